"""Start-up and inventory: which canary features the baseline side vouches for (issue 18).

A baseline recorded by attaching to a running service never saw its start-up (the
bind, the config it read); a canary started in front of the probe shows all of it.
So the judge compares:

- a canary feature seen outside its start-up windows with the baseline's windows
  outside start-up and its inventory (what the processes held at attach): start-up is
  compared with start-up, so a feature a freshly started baseline showed only while
  starting does not hide a canary doing it all along;
- a canary feature seen ONLY in its start-up windows (or its own inventory) with
  everything the baseline showed or held, and with the start-up windows and
  inventories of earlier recordings of the baseline or canary version (the
  `startup_reference`, which retention keeps at any age). Vouched for: not news. Not,
  while a start-up of the baseline side was observed (a start-up window, a
  reference): judged like any new feature. Not, and only an inventory of the
  baseline exists: judged as new where an inventory would have shown it (a listener
  stays open while the service serves; a secret read is news however the baseline
  was recorded), `unverified` where it could not (a connect, an exec, a file opened
  and closed at start-up are gone before any recording attaches). Not, and nothing
  of the baseline's start-up was observed: `unverified`. Unverified is one severity
  step lower (critical -> high, high -> medium, else low), counted by no limit, and
  never a pause on its own (see judge.py).

Inventory features are "seen in this recording", not counts: they never enter
rates and are never "missing"; a feature the canary holds is not missing either.
An inventory in a canary window after its start-up shows what the canary still holds
while serving: the probe takes one when the start-up span of a workload it saw start
ends, and lists a file first opened for writing after that once it is still held a
drain later (host_probe/recording/late_writes.py). A file opened at start-up or on
first use and held (a log or journal switched on) is then a standing change, compared
like a steady feature and seen in every canary window, so a new one is at least a
warn (scoring.persistent_changes).

The canary's start command is no news either where the baseline's start-up was not
observed: a launcher (`setpriv ... postgres`, `sh -c`, `env`) is the workload's first
program, exec'd by no process the probe saw exec, seen only at start-up, whose processes
exec'd only programs the baseline runs (its inventory names the program, never what
exec'd it) or further launchers. Lineage (WindowCounts.programs) says so; what the
launcher itself did is judged like any other feature.

Recurrence (stability.canary_min_windows) of a feature the canary showed past its
start-up counts its windows past start-up: seen once at start-up and once after, it is
a one-off of the steady state. Of a feature seen only at start-up it counts start-ups
(runs of consecutive start-up windows): one start is one occurrence, however many windows
it spans (issue 23: under emulation a webapp's start-up spread over two 3 s windows, and
its dozen start-up syscalls, each "recurring", summed to a warn that one 6 s window would
not have given). Windows seen, as reported and for persistence, stay all.

A side whose windows are mostly start-ups (a process started in most windows: a
crash loop, a program run per request) has no steady state to tell start-up from:
its marks are not used, so they cannot turn news into `unverified`.

The judge passes `adjusted` views of the feature matrix to the unchanged new/missing
rules (stability.py): windows_seen is what each side is known to have shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional

import numpy as np

from gate_server.analysis.config import GateConfig
from gate_server.analysis.features import FeatureMatrix
from gate_contract.kinds import HELD_WHILE_SERVING, SEVERITIES
from gate_contract.profile import Profile
from gate_server.analysis.rules import Rules
from gate_server.analysis.scoring import group_scores, score
from gate_server.analysis.stability import new_features
from gate_server.analysis.verdict import Anomaly

# One level lighter (the lowest stays the lowest): seen where the baseline's start-up was not.
UNVERIFIED_SEVERITY = {severity: SEVERITIES[max(rank - 1, 0)] for rank, severity in enumerate(SEVERITIES)}


@dataclass
class StartupView:
    for_new: FeatureMatrix  # candidates for "new": baseline seen 0 exactly where nothing vouches
    for_missing: FeatureMatrix
    unverified_candidates: Optional[FeatureMatrix]  # None: nothing is unverified
    baseline_known: np.ndarray  # bool per row: in a baseline window or its inventory
    notes: dict[int, str]  # row -> what the reason of its anomaly should add
    # launcher -> the programs it exec'd: the canary's start command, not judged (start_command)
    launchers: dict[str, list[str]] = field(default_factory=dict)
    # per row, the canary windows that count toward recurrence (stability.canary_min_windows):
    # past its start-up for a feature seen past it; None: windows_seen
    canary_recurrence: Optional[np.ndarray] = None


def honoured_startup(profile: Profile) -> np.ndarray:
    """Per window: a start-up window whose mark is used (not when most windows are start-ups)."""
    marks = np.array([w.startup for w in profile.windows], dtype=bool)
    return marks if marks.sum() * 2 <= len(marks) else np.zeros(len(marks), dtype=bool)


def held_while_serving(profile: Profile) -> frozenset:
    """Features of inventories taken after the profile's start-up (none without start-up windows)."""
    marks = honoured_startup(profile)
    if not marks.any():
        return frozenset()
    return frozenset().union(*(w.inventory for w, mark in zip(profile.windows, marks) if not mark))


def feature_rows(matrix: FeatureMatrix, keys) -> np.ndarray:
    mask = np.zeros(len(matrix), dtype=bool)
    mask[[matrix.index[key] for key in keys if key in matrix.index]] = True
    return mask


def reference_features(reference: Optional[Profile]) -> set:
    if reference is None:
        return set()
    return {key for w in reference.windows for key, n in w.counts.items() if w.startup and n > 0} | reference.inventory()


# What an inventory of running processes shows whenever the baseline does it (a
# listening or bound address stays open while the service serves): HELD_WHILE_SERVING,
# the kinds the feature-kind table marks so (gate_contract/kinds.py).


def startup_view(matrix: FeatureMatrix, baseline: Profile, canary: Profile,
                 reference: Optional[Profile] = None, always_news: Optional[np.ndarray] = None) -> StartupView:
    """`always_news` (bool per row): features that are news at start-up whatever the
    baseline's recording observed (sensitive accesses)."""
    baseline_held, canary_held = feature_rows(matrix, baseline.inventory()), feature_rows(matrix, canary.inventory())
    baseline_marks, canary_marks = honoured_startup(baseline), honoured_startup(canary)
    baseline_known = (matrix.baseline.windows_seen > 0) | baseline_held
    if not (baseline_held.any() or canary_held.any() or baseline_marks.any() or canary_marks.any()):
        return StartupView(matrix, matrix, None, baseline_known, {})

    baseline_steady = (matrix.baseline.rates[:, ~baseline_marks] > 0).any(axis=1)
    canary_serving = feature_rows(matrix, held_while_serving(canary))
    canary_steady = (matrix.canary.rates[:, ~canary_marks] > 0).any(axis=1) | canary_serving
    canary_start_only = ~canary_steady & ((matrix.canary.rates[:, canary_marks] > 0).any(axis=1) | canary_held)
    vouched = feature_rows(matrix, reference_features(reference))
    earlier = reference.windows if reference else []
    observed_start = bool(baseline_marks.any() or any(w.startup for w in earlier))
    has_inventory = bool(baseline_held.any() or any(w.inventory for w in earlier))
    inventory_shows = np.isin(matrix.kinds, HELD_WHILE_SERVING) if has_inventory else np.zeros(len(matrix), bool)
    if always_news is not None and has_inventory:
        inventory_shows |= always_news
    judged_as_new = np.full(len(matrix), observed_start) | inventory_shows

    known_programs = {key for (kind, key), known in zip(matrix.keys, baseline_known | vouched) if known and kind == "exec"}
    start_only_programs = {key for (kind, key), only in zip(matrix.keys, canary_start_only) if only and kind == "exec"}
    launchers = {program: execd for program, execd in start_command(canary, known_programs, start_only_programs).items()
                 if not judged_as_new[matrix.index[("exec", program)]]}
    launcher = feature_rows(matrix, [("exec", program) for program in launchers])
    seen = np.where(canary_start_only, baseline_known | vouched | launcher, baseline_steady | baseline_held)
    unverified = canary_start_only & ~seen & ~judged_as_new
    canary_seen = np.maximum(matrix.canary.windows_seen, canary_held.astype(int))
    # Held from its start-up through the inventory after it: a standing change.
    canary_seen = np.where(canary_serving, matrix.canary.window_count, canary_seen)
    known = np.maximum(matrix.baseline.windows_seen, 1)

    def view(baseline_seen: np.ndarray, canary_seen_: np.ndarray) -> FeatureMatrix:
        return replace(matrix, baseline=replace(matrix.baseline, windows_seen=baseline_seen),
                       canary=replace(matrix.canary, windows_seen=canary_seen_))

    for_new = view(np.where(seen | unverified, known, 0), canary_seen)
    # Missing: only what the baseline showed outside start-up; nothing the canary holds.
    for_missing = view(np.where(baseline_steady, matrix.baseline.windows_seen, 0), canary_seen)
    candidates = view(np.where(unverified, 0, known), canary_seen) if unverified.any() else None

    notes = {}
    for row in np.flatnonzero(canary_serving & ~seen):
        notes[int(row)] = ("held in an inventory taken after the canary's start-up: "
                           "held while it serves, not a one-off")
    for row in np.flatnonzero(canary_held & ~canary_steady & ~seen):
        notes[int(row)] = "held when the canary's recording attached"
    for row in np.flatnonzero(canary_start_only & ~seen & ~canary_held):
        notes[int(row)] = ("only at the canary's start-up, and in no start-up window or inventory of the baseline "
                           f"nor in {sum(w.startup for w in earlier)} earlier start-up windows")
    for row in np.flatnonzero(~canary_start_only & ~seen & (matrix.baseline.windows_seen > 0)):
        notes[int(row)] = "the baseline showed it only in its start-up windows (start-up is compared with start-up)"
    # Past start-up a feature recurs only if it recurs there: the start-up window is compared
    # with start-up, and a first client's backend fork there plus one later is a one-off.
    steady_seen = np.count_nonzero(matrix.canary.rates[:, ~canary_marks] > 0, axis=1)
    held = canary_held.astype(int)
    recurrence = np.where(canary_serving, canary_seen,
                          np.where(canary_start_only, np.maximum(startups_seen(matrix.canary.rates, canary_marks), held),
                                   np.maximum(steady_seen, held)))
    return StartupView(for_new, for_missing, candidates, baseline_known, notes, launchers, recurrence)


def startups_seen(rates: np.ndarray, marks: np.ndarray) -> np.ndarray:
    """Per feature: in how many start-ups (runs of consecutive marked windows) it was seen."""
    if not marks.any():
        return np.zeros(rates.shape[0], dtype=int)
    run_of = (np.cumsum(marks & ~np.concatenate(([False], marks[:-1]))) - 1)[marks]  # each marked window's start-up
    in_run = np.zeros((len(run_of), int(run_of.max()) + 1), dtype=int)
    in_run[np.arange(len(run_of)), run_of] = 1
    return np.count_nonzero((rates[:, marks] > 0).astype(int) @ in_run, axis=1)


def start_command(canary: Profile, known_programs: set[str], start_only_programs: set[str]) -> dict[str, list[str]]:
    """{launcher: the programs it exec'd} of the canary's start command: programs seen only at
    its start-up, exec'd by no process the probe saw exec (or by another launcher of the
    chain alone), whose processes exec'd at least one program and only programs of
    `known_programs` or further launchers. Without lineage there are none."""
    started_by: dict[str, set[str]] = {}
    execd: dict[str, set[str]] = {}
    for window in canary.windows:
        for facts in window.programs:
            started_by.setdefault(facts.program, set()).update(facts.started_by)
            for parent in facts.started_by:
                execd.setdefault(parent, set()).add(facts.program)

    def chain(program: str, path: frozenset[str]) -> Optional[set[str]]:
        """The launchers from `program` down, or None when it is no launcher."""
        if program not in start_only_programs or not execd.get(program):
            return None
        found = {program}
        for child in execd[program]:
            if child in known_programs:
                continue
            below = (chain(child, path | {child}) if child not in path and started_by.get(child) == {program}
                     else None)
            if below is None:
                return None
            found |= below
        return found

    launchers: set[str] = set()
    for program, parents in started_by.items():
        if not parents:
            launchers |= chain(program, frozenset({program})) or set()
    return {program: sorted(execd[program]) for program in sorted(launchers)}


def launcher_notes(view: StartupView) -> list[str]:
    return [f"exec {launcher} is the canary's start command, not news: its first program, seen only at its "
            f"start-up, which exec'd {', '.join(execd)} (a program the baseline runs), where the baseline's "
            "start-up was not observed" for launcher, execd in view.launchers.items()]


def annotate(anomalies: list[Anomaly], matrix: FeatureMatrix, notes: dict[int, str]) -> None:
    for anomaly in anomalies:
        note = notes.get(matrix.index[(anomaly.kind, anomaly.key)])
        if note and anomaly.change == "new":
            anomaly.reason = f"{anomaly.reason}; {note}"


def unverified_features(view: StartupView, config: GateConfig, rules: Rules) -> list[Anomaly]:
    """Start-up-only canary features where no start-up of the baseline side was ever observed
    (and those ages.py adds to the view). The same recurrence rules as new features decide
    which are reported."""
    if view.unverified_candidates is None:
        return []
    found = []
    for anomaly in new_features(view.unverified_candidates, config, rules, view.canary_recurrence):
        meaning = rules.new_feature(anomaly.kind, anomaly.key)
        found.append(anomaly.model_copy(update={
            "change": "unverified", "severity": UNVERIFIED_SEVERITY[anomaly.severity], "limit": None,
            "reason": (f"unverified {meaning.what}: only at the canary's start-up "
                       f"({anomaly.canary_windows_seen} of {view.unverified_candidates.canary.window_count} canary "
                       "windows), and the baseline's start-up was never observed (no start-up window, no earlier "
                       "start-up window of either version, and an inventory of running processes cannot show it); "
                       "it never pauses alone"),
        }))
    return found


def unverified_verdict(verdict: str, reasons: list[str], anomalies: list[Anomaly], breaches: list[str],
                       config: GateConfig) -> tuple[str, list[str]]:
    """Unverified anomalies never pause on their own (a pause the score reaches only through
    them is a warn), and one of severity high or above makes a pass a warn."""
    unverified = [a for a in anomalies if a.change == "unverified"]
    if not unverified:
        return verdict, reasons
    if verdict == "pause" and not breaches:  # limits never count unverified anomalies
        verified = [a for a in anomalies if a.change != "unverified"]
        without = round(score(group_scores(verified, config), config), 1)
        if without > config.thresholds.pause_score:
            return "warn", reasons + [
                f"warn, not pause: without its {len(unverified)} unverified "
                f"feature{'s' if len(unverified) != 1 else ''} the score is {without:g}, "
                f"above thresholds.pause_score ({config.thresholds.pause_score:g})"]
    heavy = [a for a in unverified if a.severity in ("high", "critical")]
    if verdict == "pass" and heavy:
        return "warn", [f"warn: {heavy[0].reason}"]
    return verdict, reasons
