"""The job summary (markdown) and the annotations for the top anomalies.

Every value from the check (keys, reasons, who decided and why) is text that the
change's author or the canary chose: `_cell` makes it inert in GitHub's Markdown
(cmark-gfm), so a file named `[approve](https://…)` shows as that name, not as a link.
"""

from __future__ import annotations

import html
import json
import re
from typing import Optional

from . import workflow_commands as wf
from .decision import Outcome
from .rollout import decided_by

# A copy of the judge's (gate_server/analysis/verdict.py, from gate_contract/kinds.py's SEVERITIES);
# tests/action/test_rollout.py keeps the two equal.
SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}
MAX_TABLE_ROWS = 50
MAX_ANNOTATIONS = 5


# Raw HTML is written as entities; the other markup characters (links, images, emphasis,
# code, table cells) and the starts of URL autolinks (`://`, `www.`) get a backslash,
# which makes any ASCII punctuation literal. (An e-mail address still links to itself:
# it shows where it goes.)
_MARKUP = re.compile(r"([\\`*_\[\]~|])|(?<=:)(?=//)|(?<=www)(?=\.)", re.IGNORECASE)


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return " ".join(_escape_markup(html.escape(text, quote=False)).split())


def _escape_markup(text: str) -> str:
    return _MARKUP.sub(lambda match: "\\" + (match.group(1) or ""), text)


def _code(value: object) -> str:
    return f"<code>{_cell(value)}</code>"


def _rate(value: object) -> str:
    if isinstance(value, (int, float)):
        return f"{value:.4g}"
    return _cell(value)


def _count(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else _cell(value)


def _ratio(value: object) -> str:
    return f"{value:.2%}" if isinstance(value, (int, float)) else _cell(value)


def ranked_anomalies(document: dict) -> list[dict]:
    anomalies = [a for a in document.get("anomalies") or [] if isinstance(a, dict)]
    return sorted(anomalies, key=lambda a: (SEVERITY_ORDER.get(str(a.get("severity")), 9), str(a.get("kind")), str(a.get("key"))))


def _observation_table(document: dict) -> list[str]:
    observation = document.get("observation") or {}
    if not observation:
        return []
    lines = [
        "### Observation", "",
        "| side | version | windows | syscalls | events | lost | loss | sampling |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    versions = {"baseline": document.get("baseline_version"), "canary": document.get("canary_version")}
    for side in ("baseline", "canary"):
        seen = observation.get(side) or {}
        sample = seen.get("sample_every")
        lines.append(
            f"| {side} | {_code(versions[side])} | {_count(seen.get('windows'))} | {_count(seen.get('syscalls'))} "
            f"| {_count(seen.get('events'))} | {_count(seen.get('lost'))} | {_ratio(seen.get('loss_ratio'))} "
            f"| {'1 in ' + str(sample) if sample else ''} |"
        )
    return lines + [""]


def _walk_groups(groups: object, depth: int = 0):
    """(depth, group) of the check's groups, parents first (the server's analysis/entries.py;
    the Action imports nothing of the repository)."""
    for group in groups if isinstance(groups, list) else []:
        if isinstance(group, dict):
            yield depth, group
            yield from _walk_groups(group.get("children"), depth + 1)


def _grouped(document: dict) -> set[int]:
    return {index for _, group in _walk_groups(document.get("groups"))
            for index in [group.get("anomaly"), *(group.get("anomalies") or [])] if isinstance(index, int)}


def _held(everything: list, indexes: list) -> list[dict]:
    return [everything[i] for i in indexes
            if isinstance(i, int) and 0 <= i < len(everything) and isinstance(everything[i], dict)]


def _group_detail(group: dict, everything: list) -> tuple[int, str]:
    """(how many anomalies the group holds itself, their keys: a program's own, then what
    started it; a rate group's head too, which its summary names)."""
    start = set(group.get("started_with") or [])
    own = [i for i in group.get("anomalies") or [] if i not in start]
    if group.get("cause") == "rates":
        own = [group.get("anomaly"), *own]
    parts = []
    for label, indexes in (("", own), ("starting it: ", [i for i in group.get("anomalies") or [] if i in start])):
        members = _held(everything, indexes)
        if members:
            keys = ", ".join(_code(a.get("key")) for a in members[:MAX_TABLE_ROWS])
            more = f" …and {len(members) - MAX_TABLE_ROWS} more" if len(members) > MAX_TABLE_ROWS else ""
            parts.append(f"{label}{keys}{more}")
    return len(_held(everything, own)) + len(start), "; ".join(parts)


def _lineage_lines(document: dict) -> list[str]:
    """One entry per group (a new program and what it caused, its children nested; the rate
    shifts): a list, each with its anomalies' keys folded."""
    everything = document.get("anomalies") or []
    lines = []
    for depth, group in _walk_groups(document.get("groups")):
        lines.append(f"{'  ' * depth}- **{_cell(group.get('severity'))}** {_cell(group.get('summary'))}")
        count, keys = _group_detail(group, everything)
        if count:
            lines.append(f"{'  ' * (depth + 1)}<details><summary>{count} anomalies</summary> {keys}</details>")
    if not lines:
        return []
    return ["### Grouped by cause", "", *lines, ""]


def _anomaly_table(document: dict) -> list[str]:
    grouped = _grouped(document)
    anomalies = ranked_anomalies({"anomalies": [a for index, a in enumerate(document.get("anomalies") or [])
                                                if index not in grouped]})
    if not anomalies and not grouped:
        return ["### Anomalies", "", "None: nothing new, nothing missing, no rate shift beyond the thresholds.", ""]
    lineage = _lineage_lines(document)
    if not anomalies:
        return lineage
    lines = lineage + [
        f"### {'Other anomalies' if grouped else 'Anomalies'} ({len(anomalies)})", "",
        "| severity | kind | key | change | baseline rate ‰ | canary rate ‰ | reason |",
        "| --- | --- | --- | --- | ---: | ---: | --- |",
    ]
    for anomaly in anomalies[:MAX_TABLE_ROWS]:
        lines.append(
            f"| {_cell(anomaly.get('severity'))} | {_cell(anomaly.get('kind'))} | {_code(anomaly.get('key'))} "
            f"| {_cell(anomaly.get('change'))} | {_rate(anomaly.get('baseline_rate'))} "
            f"| {_rate(anomaly.get('canary_rate'))} | {_cell(anomaly.get('reason'))} |"
        )
    lines.append("\nRates are per 1000 syscalls (mean per window).")
    if len(anomalies) > MAX_TABLE_ROWS:
        lines.append(f"\n…and {len(anomalies) - MAX_TABLE_ROWS} more in the report file.")
    return lines + [""]


def _decision_lines(outcome: Outcome) -> list[str]:
    decision = outcome.decision
    if not decision:
        return []
    if decision.get("decision") == "timeout":
        return ["### Decision", "", "No decision came in time: the rollout stays paused.", ""]
    verb = "Approved" if decision.get("decision") == "approve" else "Rejected"
    return ["### Decision", "",
            f"**{verb}** by {_cell(decided_by(decision))} at {_cell(decision.get('at'))}: {_cell(decision.get('reason'))}",
            ""]


def render(outcome: Outcome, stage: str, service: str, document: Optional[dict],
           config_note: str, report_path: str) -> str:
    title_stage = f" — stage `{stage}`" if stage else ""
    lines = [f"## {outcome.icon} syscall-gate: **{outcome.verdict}**{title_stage}", ""]
    if outcome.report_only:
        lines += ["> **Report-only** (`mode: report`): this step never fails; statuses say what it would have "
                  "done.", ""]
    lines += [_cell(outcome.headline), ""] + _decision_lines(outcome)
    if document:
        check_url = document.get("url")
        link = f" · [open the check]({check_url})" if check_url else ""
        lines += [
            f"Service {_code(document.get('service') or service)}: canary {_code(document.get('canary_version'))} "
            f"vs baseline {_code(document.get('baseline_version'))} · score **{_cell(document.get('score'))}**/100{link}",
            "",
        ]
        reasons = [str(r) for r in document.get("reasons") or []]
        if reasons:
            lines += ["**Why:**", ""] + [f"- {_cell(r)}" for r in reasons] + [""]
        # What the operator's floors refused of the repo's config, and what the judge noted
        # (suppressions, a floor no suppression lowers): a loosening never passes unsaid.
        policy = [str(n) for n in document.get("policy_notes") or []]
        if policy:
            lines += ["**Server policy (the operator's floors):**", ""] + [f"- {_cell(n)}" for n in policy] + [""]
        notes = [str(n) for n in document.get("notes") or []]
        if notes:
            lines += ["**Notes:**", ""] + [f"- {_cell(n)}" for n in notes] + [""]
        lines += _observation_table(document)
        lines += _anomaly_table(document)
        thresholds = document.get("thresholds")
        if thresholds:
            lines += [
                "<details><summary>Thresholds applied</summary>", "",
                "```json", json.dumps(thresholds, indent=2, sort_keys=True), "```", "", "</details>", "",
            ]
    lines += [f"_{config_note}. Report: `{report_path}`._", ""]
    return "\n".join(lines)


def annotate_anomalies(document: dict, outcome: Outcome) -> None:
    """The heaviest anomalies as annotations, a group once (by its head, with its summary)."""
    everything = document.get("anomalies") or []
    heads = {group.get("anomaly"): group for _, group in _walk_groups(document.get("groups"))}
    hidden = _grouped(document) - set(heads)
    anomalies = ranked_anomalies({"anomalies": [
        {**a, "severity": heads[index].get("severity"), "reason": heads[index].get("summary")}
        if index in heads and isinstance(a, dict) else a
        for index, a in enumerate(everything) if index not in hidden]})
    for anomaly in anomalies[:MAX_ANNOTATIONS]:
        severe = str(anomaly.get("severity")) in ("critical", "high")
        message = (
            f"{anomaly.get('severity')} {anomaly.get('change')} {anomaly.get('kind')} {anomaly.get('key')}: "
            f"{anomaly.get('reason', '')}"
        )
        title = f"syscall-gate: {anomaly.get('kind')} {anomaly.get('key')}"
        if severe and not outcome.proceeds:
            wf.error(message, title=title)
        else:
            wf.warning(message, title=title)
    if len(anomalies) > MAX_ANNOTATIONS:
        wf.notice(f"{len(anomalies) - MAX_ANNOTATIONS} more anomalies in the job summary", title="syscall-gate")
