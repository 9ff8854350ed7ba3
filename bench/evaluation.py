"""The evaluation set: does the judge stay quiet on benign re-runs and pause every
injected behaviour change, on profiles recorded with the real probe?

    python -m bench evaluation                 judge the stored fixtures, print the confusion table
    python -m bench evaluation --record        re-record the fixtures (root + eBPF, ~45 min)
    python -m bench evaluation --record --workload postgres --scenario inject-exec
    python -m bench evaluation --record --vm   the fentry file hook's fixtures, recorded in the VM
                                               tier's kernel (bench/evaluation_vm.py), then judged
    python -m bench evaluation --record --vm --through agent --workload redis
                                               every scenario through one agent, compiled once

The fixtures are tests/evaluation/profiles/<workload>/<scenario>.json(.gz);
bench/evaluation_record.py says how they are recorded. The judge runs with its
default config (load_config({})): nothing here is tuned to the fixtures.
Targets (issue 13): no benign re-deploy pauses; a secret read, an exec, a new
destination or a new listener pauses; any other change warns at least; each for
the right reason (the injected feature is among the anomalies). Exit status 0 when
every target is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from bench.evaluation_data import EXPECTED_FEATURE, FIXTURES_DIR, Comparison, comparisons, recorded_workloads
from gate_server.analysis.config import GateConfig, load_config
from gate_server.config_file import load_config_file
from gate_server.analysis.config_errors import ConfigError
from gate_server.analysis.judge import judge
from gate_server.analysis.verdict import Verdict

TOP_ANOMALIES = 3


@dataclass(frozen=True)
class Outcome:
    comparison: Comparison
    verdict: Verdict

    @property
    def paused(self) -> bool:
        return self.verdict.verdict == "pause"

    @property
    def flags_injected_feature(self) -> bool:
        injection = self.comparison.injection
        return injection is not None and any(
            EXPECTED_FEATURE[injection]((a.kind, a.key)) for a in self.verdict.anomalies)

    @property
    def correct(self) -> bool:
        expected = self.comparison.expected
        if expected == "no pause":
            return not self.paused
        reached = self.paused if expected == "pause" else self.verdict.verdict in ("warn", "pause")
        return reached and self.flags_injected_feature

    def miss_reason(self) -> Optional[str]:
        if self.comparison.benign or self.correct:
            return None
        if self.verdict.verdict in (("pause",) if self.comparison.expected == "pause" else ("warn", "pause")):
            return f"{self.verdict.verdict}, but not for the injected change: " + "; ".join(self.verdict.reasons)
        flagged = [f"{a.change} {a.kind} {a.key} ({a.severity})" for a in self.verdict.anomalies
                   if EXPECTED_FEATURE[self.comparison.injection]((a.kind, a.key))]
        return (f"verdict {self.verdict.verdict}: {'; '.join(self.verdict.reasons) or 'no reason given'}"
                f"; the injected feature: {'; '.join(flagged) or 'not among the anomalies'}")


def evaluate(fixtures_dir: Path = FIXTURES_DIR, config: Optional[GateConfig] = None,
             steady_bound: int = 0) -> list[Outcome]:
    config = config or load_config({})
    return [Outcome(c, judge(c.baseline, c.canary, config))
            for workload in recorded_workloads(fixtures_dir) for c in comparisons(workload, fixtures_dir, steady_bound)]


def _anomaly_text(verdict: Verdict) -> str:
    shown = [f"{a.change} {a.kind} {a.key} ({a.severity})" for a in verdict.anomalies[:TOP_ANOMALIES]]
    more = len(verdict.anomalies) - TOP_ANOMALIES
    return "; ".join(shown) + (f"; +{more} more" if more > 0 else "") or "-"


def _rate(part: int, whole: int) -> str:
    return f"{part}/{whole} = {part / whole:.0%}" if whole else "n/a (no comparisons)"


def kind_table(outcomes: list[Outcome]) -> list[str]:
    """Per kind of change: comparisons, false pauses and false warns (benign), detections (target met)."""
    lines = ["| kind | expected | comparisons | pause | warn | pass | other | false pauses | false warns "
             "| detections |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    kinds: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        kinds.setdefault(outcome.comparison.kind, []).append(outcome)
    for kind, group in kinds.items():
        expected = group[0].comparison.expected
        verdicts = [o.verdict.verdict for o in group]
        benign = expected == "no pause"
        other = len(group) - sum(verdicts.count(v) for v in ("pause", "warn", "pass"))
        lines.append(
            f"| {kind} | {expected if expected != 'warn' else 'warn or pause'} | {len(group)} "
            f"| {verdicts.count('pause')} | {verdicts.count('warn')} | {verdicts.count('pass')} | {other} "
            f"| {verdicts.count('pause') if benign else '-'} | {verdicts.count('warn') if benign else '-'} "
            f"| {'-' if benign else f'{sum(o.correct for o in group)}/{len(group)}'} |")
    return lines


def comparison_key(outcome: Outcome) -> tuple[str, str]:
    """The same comparison in another fixture set: its name without what differs between
    recordings (traffic share, the baseline's age at attach)."""
    return outcome.comparison.workload, re.sub(r" \([^)]*\)", "", outcome.comparison.name)


def hook_table(sets: dict[str, list[Outcome]]) -> list[str]:
    """Per fixture set (one per file hook): false pauses, false warns (listed) and
    detections over the comparisons every set has."""
    common = set.intersection(*({comparison_key(o) for o in outcomes} for outcomes in sets.values()))
    lines = ["| file hook (fixtures) | benign comparisons | false pauses | false warns | injected | detections |",
             "| --- | --- | --- | --- | --- | --- |"]
    warned = []
    for name, outcomes in sets.items():
        shared = [o for o in outcomes if comparison_key(o) in common]
        benign = [o for o in shared if o.comparison.benign]
        injected = [o for o in shared if not o.comparison.benign]
        warns = [o for o in benign if o.verdict.verdict == "warn"]
        lines.append(f"| {name} | {len(benign)} | {sum(o.paused for o in benign)} | {len(warns)} | {len(injected)} "
                     f"| {sum(o.correct for o in injected)}/{len(injected)} |")
        warned += [f"{name}: false warn {o.comparison.workload} / {o.comparison.name}: score {o.verdict.score:g}; "
                   + _anomaly_text(o.verdict) for o in warns]
        warned += [f"{name}: MISS {o.comparison.workload} / {o.comparison.name}: "
                   + (o.miss_reason() or "false pause: " + "; ".join(o.verdict.reasons))
                   for o in shared if not o.correct]
    return lines + [""] + warned


def report(outcomes: list[Outcome]) -> str:
    lines = ["| workload | comparison | expected | verdict | score | windows (b/c) | top anomalies |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for outcome in outcomes:
        c, v = outcome.comparison, outcome.verdict
        expected = c.expected if c.expected != "warn" else "warn or pause"
        mark = "" if outcome.correct else " **MISS**"
        windows = f"{len(c.baseline.windows)}/{len(c.canary.windows)}"
        lines.append(f"| {c.workload} | {c.name} | {expected} | {v.verdict}{mark} | {v.score:g} | {windows} "
                     f"| {_anomaly_text(v)} |")
    benign = [o for o in outcomes if o.comparison.benign]
    injected = [o for o in outcomes if not o.comparison.benign]
    lines += ["", *kind_table(outcomes)]
    lines += [
        "",
        f"false-pause rate: {_rate(sum(o.paused for o in benign), len(benign))} of benign comparisons",
        f"benign warns (noise, not pauses): {sum(o.verdict.verdict == 'warn' for o in benign)}; "
        f"benign inconclusive: {sum(o.verdict.verdict == 'inconclusive' for o in benign)}",
        f"detection rate: {_rate(sum(o.correct for o in injected), len(injected))} of injected changes "
        "(paused, or for a change that must warn warned or paused, with the injected feature among the anomalies)",
    ]
    for outcome in outcomes:
        if not outcome.correct:
            c = outcome.comparison
            why = outcome.miss_reason() or "false pause: " + "; ".join(outcome.verdict.reasons)
            lines.append(f"MISS {c.workload} / {c.name}: {why}")
    return "\n".join(lines)


def _hook_of(fixtures: Path) -> str:
    """The file hook a fixture set's windows name, and the set. Windows recorded before they
    named their hooks (2026-11-27) were all keyed at sys_enter: that is the only hook then."""
    hooks = {w.hooks["file"] for workload in recorded_workloads(fixtures) for c in comparisons(workload, fixtures)
             for w in c.canary.windows if "file" in w.hooks}
    return f"{', '.join(sorted(hooks | {'sys_enter'} if not hooks else hooks))} ({fixtures.name})"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench evaluation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--record", action="store_true", help="re-record the fixtures with the real probe first")
    parser.add_argument("--workload", action="append", default=[], help="record only this workload (repeatable)")
    parser.add_argument("--scenario", action="append", default=[], help="record only this scenario (repeatable)")
    parser.add_argument("--duration", type=float, default=24.0, help="seconds recorded per run (default 24)")
    parser.add_argument("--window", type=float, default=3.0, help="window length in seconds (default 3)")
    parser.add_argument("--startup", type=float, default=6.0,
                        help="the probe's start-up span in seconds (--startup; default 6: two windows)")
    parser.add_argument("--file-hook", choices=("auto", "fentry", "sys_enter"),
                        help="record with this file hook, required (default: the probe's auto; fentry with --vm)")
    parser.add_argument("--rate-scale", type=float,
                        help="scale every workload's rate by this (default 1; with --vm "
                             "bench.evaluation_vm.VM_RATE_SCALE: the emulated CPU serves less)")
    parser.add_argument("--through", choices=("record", "agent"), default="record",
                        help="with --record: record each scenario with its own `host-probe record` (default), or "
                             "every scenario through one running agent, compiled once (what makes the whole set "
                             "affordable in the VM: bench/evaluation_agent_scenarios.py)")
    parser.add_argument("--vm", action="store_true",
                        help="with --record: record in the VM tier's kernel (scripts/test-kernels.sh), where fentry "
                             "loads; without --workload/--scenario the named subset of bench/evaluation_vm.py; "
                             "--fixtures defaults to tests/evaluation/profiles-fentry")
    parser.add_argument("--fixtures", type=Path, help="fixture directory (default tests/evaluation/profiles, "
                                                      "with --vm tests/evaluation/profiles-fentry)")
    parser.add_argument("--compare-with", type=Path, metavar="FIXTURES",
                        help="also judge these fixtures (another file hook's) and print a per-hook table over "
                             "the comparisons both sets have")
    parser.add_argument("--config", type=Path, help="judge with this threshold config YAML (default: the defaults)")
    parser.add_argument("--max-steady-windows", type=int, default=0, metavar="N",
                        help="judge each recording as the server keeps it with GATE_MAX_STEADY_WINDOWS_PER_HOST=N "
                             "(start-up windows and a time-stratified sample of N steady ones; default 0: all)")
    parser.add_argument("--quick", action="store_true", help="accepted for `python -m bench --quick`; judging is fast")
    args = parser.parse_args(argv)
    if args.vm and not args.record:
        parser.error("--vm records in the VM: give --record too")
    if args.fixtures is None:
        from bench.evaluation_vm import FENTRY_FIXTURES_DIR

        args.fixtures = FENTRY_FIXTURES_DIR if args.vm else FIXTURES_DIR

    if args.record:
        from bench.workloads.services import WORKLOADS

        unknown = set(args.workload) - set(WORKLOADS)
        if unknown:
            parser.error(f"unknown workload {', '.join(sorted(unknown))}; choose from {', '.join(WORKLOADS)}")
        if args.vm:
            from bench.evaluation_vm import guest_arguments, record_in_vm

            failed = record_in_vm(guest_arguments(args.workload, args.scenario, args.duration, args.window,
                                                  args.startup, args.fixtures, args.file_hook, args.rate_scale,
                                                  args.through),
                                  args.fixtures)
        else:
            from bench.evaluation_record import RecordOptions, record

            options = RecordOptions(args.duration, args.window, args.startup, args.file_hook,
                                    1.0 if args.rate_scale is None else args.rate_scale)
            failed = record(args.workload or list(WORKLOADS), args.scenario, options, args.fixtures, args.through)
        if failed:
            print("some recordings failed; judging what is stored", flush=True)

    if not recorded_workloads(args.fixtures):
        print(f"error: no fixtures under {args.fixtures}; record them with --record (root, eBPF)", file=sys.stderr)
        return 2
    try:
        config = load_config_file(args.config) if args.config else load_config({})
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        outcomes = evaluate(args.fixtures, config, args.max_steady_windows)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report(outcomes), flush=True)
    if args.compare_with:
        other = evaluate(args.compare_with, config, args.max_steady_windows)
        print("", *hook_table({_hook_of(args.fixtures): outcomes, _hook_of(args.compare_with): other}),
              sep="\n", flush=True)
    return 0 if all(o.correct for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
