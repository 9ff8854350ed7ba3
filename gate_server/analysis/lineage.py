"""Lineage: the canary's new behaviour grouped under the new program that caused it.

A canary that runs `/bin/sh` once per request shows the shell's exec and every syscall,
file and program the shell itself uses as new: thirty rows for one change. The probe
says, per window, which program's processes made each feature and which program
exec'd it (`WindowCounts.programs`). Here each new program (a `new` or `unverified`
exec) heads a group; a new program exec'd by another new program is a child group. An
anomaly joins a group when, in every canary window it was seen in, only new programs
made it (under the outermost of them). Start-up windows are left out of that test when
the feature was seen past them: an older program's start-up (a fresh canary's loader)
does not make the shell's every-request `access` its own. An anomaly that an older
program or a process the probe never saw exec also made, or that no program is named
for, stays ungrouped: the flat list is unchanged, groups point into it.

Starting a program shows on its parent's side: until its exec the child runs the
parent's image, so python's `subprocess` makes `vfork`, `pipe2`, `close_range`, `execve`
and `wait4` as python. Such a spawn syscall joins the group of the new program an older
program started when, in every window it was seen in, that program was exec'd and only
new programs and that program's parents (a process never seen exec, when the exec came
from one) made it. Process events are counted per workload, not per program: each joins
the group whose programs made the syscalls behind it (fork: the fork family, on the
parent's side too; exec: `execve`; exit: `exit_group`; thread: `clone`, the program's own).
"""

from __future__ import annotations

from collections import Counter

from gate_contract.profile import FeatureKey, Profile, WindowCounts
from gate_server.analysis.verdict import Anomaly, AnomalyGroup, severity_rank

GROUPED_CHANGES = ("new", "unverified")
# How a group's summary names its members, per kind: (one, many)
KIND_WORDS = {"syscall": ("new syscall", "new syscalls"), "file": ("new file", "new files"),
              "connect": ("new destination", "new destinations"), "listen": ("new listener", "new listeners"),
              "bind": ("new bind", "new binds"), "socket": ("new socket type", "new socket types"),
              "process": ("new process event", "new process events")}

# What a parent does to start a program (fork, exec-error pipe, the child's fd set-up before
# its exec, the exec, the wait): credited to the parent's image by the probe. restart_syscall:
# the parent's timed waits restarted around its child's exit (python's subprocess shows it; an
# idle python without children does not).
SPAWN_SYSCALLS = frozenset({"fork", "vfork", "clone", "clone3", "execve", "execveat", "wait4", "waitid",
                            "pipe", "pipe2", "close_range", "dup2", "dup3", "setsid", "setpgid", "restart_syscall"})
# process event -> (the syscalls that make it, whether a new program's parent makes them for it)
PROCESS_EVENT_SYSCALLS = {"fork": (("fork", "vfork", "clone", "clone3"), True), "exec": (("execve", "execveat"), True),
                          "exit": (("exit_group",), False), "thread": (("clone", "clone3"), False)}


# Who made a feature in a window, besides the named programs: processes never seen exec
UNNAMED = ""


def _started_by(canary: Profile) -> dict[str, set[str]]:
    """program -> the programs that exec'd it, over every window."""
    started_by: dict[str, set[str]] = {}
    for window in canary.windows:
        for facts in window.programs:
            started_by.setdefault(facts.program, set()).update(facts.started_by)
    return started_by


def _makers(window: WindowCounts) -> dict[FeatureKey, set[str]]:
    """feature -> who made it in this window (UNNAMED: processes the probe never saw exec)."""
    makers: dict[FeatureKey, set[str]] = {}
    for facts in window.programs:
        for feature in facts.features:
            makers.setdefault(feature, set()).add(facts.program)
    for feature in window.unnamed:
        makers.setdefault(feature, set()).add(UNNAMED)
    return makers


def _new_makers(feature: FeatureKey, windows: list[tuple[WindowCounts, dict]], new: set[str],
                behind: tuple[FeatureKey, ...] = ()) -> set[str]:
    """The new programs that alone made `feature` (or the syscalls `behind` it) in every window
    it was seen in (past start-up, when it was seen there); empty when any such window says otherwise."""
    found: set[str] = set()
    for _, makers in _judged(feature, windows):
        made_by = _made_by(behind or (feature,), makers)
        if not made_by or not made_by <= new:
            return set()
        found |= made_by
    return found


def _behind(anomaly: Anomaly) -> tuple[tuple[FeatureKey, ...], bool] | None:
    """The syscalls whose makers made `anomaly`, and whether a new program's parent makes them
    to start it; None for any other anomaly (only the first rule judges it)."""
    if anomaly.kind == "syscall" and anomaly.key in SPAWN_SYSCALLS:
        return (("syscall", anomaly.key),), True
    if anomaly.kind == "process" and anomaly.key in PROCESS_EVENT_SYSCALLS:
        names, parents_side = PROCESS_EVENT_SYSCALLS[anomaly.key]
        return tuple(("syscall", name) for name in names), parents_side
    return None


def _judged(feature: FeatureKey, windows: list[tuple[WindowCounts, dict]]) -> list[tuple[WindowCounts, dict]]:
    """The windows `feature` was seen in, past start-up when it was seen there."""
    seen = [(window, makers) for window, makers in windows if window.counts.get(feature)]
    return [pair for pair in seen if not pair[0].startup] or seen


def _window_parents(program: str, window: WindowCounts) -> set[str]:
    """Who exec'd `program` in this window: its named parents, else processes never seen exec."""
    named = {parent for facts in window.programs if facts.program == program for parent in facts.started_by}
    return named or {UNNAMED}


def _made_by(behind: tuple[FeatureKey, ...], makers: dict[FeatureKey, set[str]]) -> set[str]:
    return set().union(*(makers.get(feature, set()) for feature in behind))


def _started_side(anomaly: Anomaly, behind: tuple[FeatureKey, ...], windows: list[tuple[WindowCounts, dict]],
                  new: set[str], starters: list[str]) -> str | None:
    """The first of `starters` (new programs an older one exec'd) that was exec'd in every
    window `anomaly` was seen in, where only new programs and its parents made `behind`."""
    judged = _judged((anomaly.kind, anomaly.key), windows)
    for program in starters:
        if all(window.counts.get(("exec", program))
               and (made := _made_by(behind, makers)) and made <= new | _window_parents(program, window)
               for window, makers in judged):
            return program
    return None


def _parents(new: set[str], started_by: dict[str, set[str]]) -> dict[str, str]:
    """Each new program's new parent (the first by name), where it has one, without cycles."""
    parents: dict[str, str] = {}
    for program in sorted(new):
        candidates = sorted(started_by.get(program, set()) & new - {program})
        for candidate in candidates:
            ancestor, seen = candidate, {program}
            while ancestor in parents and ancestor not in seen:  # would this close a loop?
                seen.add(ancestor)
                ancestor = parents[ancestor]
            if ancestor not in seen:
                parents[program] = candidate
                break
    return parents


def _depth(program: str, parents: dict[str, str]) -> int:
    depth = 0
    while program in parents:
        program, depth = parents[program], depth + 1
    return depth


def group_anomalies(anomalies: list[Anomaly], canary: Profile) -> list[AnomalyGroup]:
    """Groups over `anomalies` (by index); [] when the canary's windows carry no lineage."""
    started_by = _started_by(canary)
    if not started_by:
        return []
    heads = {a.key: index for index, a in enumerate(anomalies)
             if a.kind == "exec" and a.change in GROUPED_CHANGES and a.key in started_by}
    if not heads:
        return []
    new = set(heads)
    parents = _parents(new, started_by)
    members: dict[str, list[int]] = {program: [] for program in new}
    started_with: dict[str, list[int]] = {program: [] for program in new}
    windows = [(window, _makers(window)) for window in canary.windows]
    # the new programs an older one started, the heaviest first: whose start a parent's spawn syscall is
    starters = sorted((program for program in new if program not in parents),
                      key=lambda program: (severity_rank(anomalies[heads[program]].severity), program))
    for index, anomaly in enumerate(anomalies):
        if anomaly.change not in GROUPED_CHANGES or (anomaly.kind == "exec" and anomaly.key in new):
            continue
        behind = _behind(anomaly)
        if anomaly.kind == "process" and not behind:
            continue
        event_syscalls = behind[0] if anomaly.kind == "process" else ()  # an event's makers are its syscalls'
        if made_by := _new_makers((anomaly.kind, anomaly.key), windows, new, event_syscalls):
            members[min(made_by, key=lambda program: (_depth(program, parents), program))].append(index)
        elif behind and behind[1] and (program := _started_side(anomaly, behind[0], windows, new, starters)):
            members[program].append(index)
            started_with[program].append(index)
    built: dict[str, AnomalyGroup] = {}
    for program in sorted(new, key=lambda program: -_depth(program, parents)):  # children first
        children = sorted((built[child] for child, parent in parents.items() if parent == program),
                          key=lambda group: (severity_rank(group.severity), group.program))
        own = [anomalies[heads[program]]] + [anomalies[i] for i in members[program]]
        severity = min([a.severity for a in own] + [child.severity for child in children], key=severity_rank)
        own_doing = [anomalies[i] for i in members[program] if i not in started_with[program]]
        built[program] = AnomalyGroup(
            program=program, anomaly=heads[program], started_by=sorted(started_by[program]),
            anomalies=members[program], started_with=started_with[program], children=children, severity=severity,
            summary=_summary(program, sorted(started_by[program]), own_doing, children,
                             [anomalies[i] for i in started_with[program]]),
        )
    roots = [built[program] for program in new if program not in parents]
    return sorted(roots, key=lambda group: (severity_rank(group.severity), group.program))


def _counted(anomalies: list[Anomaly]) -> list[str]:
    """"14 new syscalls", "3 new files", ..., the most first."""
    counted = Counter(a.kind for a in anomalies)
    return [f"{n} {KIND_WORDS.get(kind, (f'new {kind}', f'new {kind}s'))[n != 1]}"
            for kind, n in sorted(counted.items(), key=lambda item: (-item[1], item[0]))]


def _and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _summary(program: str, started_by: list[str], made: list[Anomaly], children: list[AnomalyGroup],
             start: list[Anomaly] = ()) -> str:
    """"/bin/sh (new exec, started by /usr/bin/python3) made 27 new syscalls and exec'd /usr/bin/id;
    starting it: 5 new syscalls and 3 process events"."""
    head = f"{program} (new exec" + (f", started by {', '.join(started_by)})" if started_by else ")")
    parts = _counted(made)
    if children:
        parts.append("exec'd " + ", ".join(child.program for child in children))
    said = head
    if parts:
        said = f"{head} {_and(parts)}" if parts[0].startswith("exec'd") else f"{head} made {_and(parts)}"
    if start:
        said += f"; starting it: {_and(_counted(start))}"
    return said
