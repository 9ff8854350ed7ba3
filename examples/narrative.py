"""What the demo prints: short sections with timings, verdicts with their anomalies."""

from __future__ import annotations

import sys
import time

from gate_server.analysis.entries import entries, walk_groups

WIDTH = 78
MAX_ANOMALIES_SHOWN = 8


class Narrative:
    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.started = time.monotonic()
        self.section_started = self.started

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def say(self, text: str = "") -> None:
        print(text, file=self.stream, flush=True)

    def section(self, title: str) -> None:
        self.section_started = time.monotonic()
        stamp = f"[{self.elapsed():5.1f} s]"
        self.say()
        self.say(f"== {title} " + "=" * max(3, WIDTH - len(title) - len(stamp) - 5) + " " + stamp)

    def step(self, text: str) -> None:
        self.say(f"  - {text}")

    def done(self, text: str) -> None:
        self.say(f"  - {text} ({time.monotonic() - self.section_started:.1f} s)")


def format_anomaly(anomaly: dict) -> str:
    severity = str(anomaly.get("severity", "?")).upper()
    kind, key, change = anomaly.get("kind", "?"), anomaly.get("key", "?"), anomaly.get("change", "?")
    reason = anomaly.get("reason") or ""
    head = f"{severity:<8} {change:<7} {kind} {key}"
    return head if not reason else f"{head}\n{'':15}{reason}"


def verdict_lines(label: str, document: dict, expected: str) -> list[str]:
    verdict = document.get("verdict", "?")
    mark = "as expected" if verdict == expected else f"EXPECTED {expected.upper()}"
    lines = [f"{label}: verdict {verdict.upper()} (score {document.get('score', '?')}) -- {mark}"]
    observation = document.get("observation") or {}
    for side in ("baseline", "canary"):
        seen = observation.get(side) or {}
        if seen:
            lines.append(f"    observed {side:<8}: {seen.get('windows', '?')} windows, "
                         f"{seen.get('syscalls', '?')} syscalls, loss {seen.get('loss_ratio', 0):.2%}")
    anomalies = document.get("anomalies") or []
    if anomalies:
        shown = entries(document)  # a group is one entry (its detail on the dashboard), heaviest first
        lines.append(f"    anomalies ({len(anomalies)}" + (f", as {len(shown)} entries" if len(shown) != len(anomalies)
                                                           else "") + "):")
        for what, entry in shown[:MAX_ANOMALIES_SHOWN]:
            if what == "anomaly":
                lines.extend("      " + part for part in format_anomaly(entry).splitlines())
                continue
            for depth, group in walk_groups([entry]):  # what a new program exec'd, nested under it
                lines.append(f"      {'  ' * depth}{str(group.get('severity')).upper():<8} {group.get('summary')}")
        if len(shown) > MAX_ANOMALIES_SHOWN:
            lines.append(f"      ... and {len(shown) - MAX_ANOMALIES_SHOWN} more on the dashboard")
    else:
        lines.append("    anomalies: none")
    for reason in document.get("reasons") or []:
        lines.append(f"    reason: {reason}")
    if document.get("url"):
        lines.append(f"    dashboard: {document['url']}")
    return lines
