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
"""

from __future__ import annotations

from collections import Counter

from gate_contract.profile import FeatureKey, Profile, WindowCounts
from gate_server.analysis.verdict import Anomaly, AnomalyGroup, severity_rank

GROUPED_CHANGES = ("new", "unverified")
# How a group's summary names its members, per kind: (one, many)
KIND_WORDS = {"syscall": ("new syscall", "new syscalls"), "file": ("new file", "new files"),
              "connect": ("new destination", "new destinations"), "listen": ("new listener", "new listeners"),
              "bind": ("new bind", "new binds"), "socket": ("new socket type", "new socket types")}


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


def _new_makers(feature: FeatureKey, windows: list[tuple[WindowCounts, dict]], new: set[str]) -> set[str]:
    """The new programs that alone made `feature` in every window it was seen in (past
    start-up, when it was seen there); empty when any such window says otherwise."""
    seen = [(window, makers) for window, makers in windows if window.counts.get(feature)]
    judged = [pair for pair in seen if not pair[0].startup] or seen
    found: set[str] = set()
    for _, makers in judged:
        made_by = makers.get(feature, set())
        if not made_by or not made_by <= new:
            return set()
        found |= made_by
    return found


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
    windows = [(window, _makers(window)) for window in canary.windows]
    for index, anomaly in enumerate(anomalies):
        if anomaly.change not in GROUPED_CHANGES or (anomaly.kind == "exec" and anomaly.key in new):
            continue
        made_by = _new_makers((anomaly.kind, anomaly.key), windows, new)
        if made_by:
            members[min(made_by, key=lambda program: (_depth(program, parents), program))].append(index)
    built: dict[str, AnomalyGroup] = {}
    for program in sorted(new, key=lambda program: -_depth(program, parents)):  # children first
        children = sorted((built[child] for child, parent in parents.items() if parent == program),
                          key=lambda group: (severity_rank(group.severity), group.program))
        own = [anomalies[heads[program]]] + [anomalies[i] for i in members[program]]
        severity = min([a.severity for a in own] + [child.severity for child in children], key=severity_rank)
        built[program] = AnomalyGroup(
            program=program, anomaly=heads[program], started_by=sorted(started_by[program]),
            anomalies=members[program], children=children, severity=severity,
            summary=_summary(program, sorted(started_by[program]), [anomalies[i] for i in members[program]],
                             children),
        )
    roots = [built[program] for program in new if program not in parents]
    return sorted(roots, key=lambda group: (severity_rank(group.severity), group.program))


def _summary(program: str, started_by: list[str], made: list[Anomaly], children: list[AnomalyGroup]) -> str:
    """"/bin/sh (new exec, started by /usr/bin/python3) made 27 new syscalls and exec'd /usr/bin/id"."""
    head = f"{program} (new exec" + (f", started by {', '.join(started_by)})" if started_by else ")")
    counted = Counter(a.kind for a in made)
    parts = [f"{n} {KIND_WORDS.get(kind, (f'new {kind}', f'new {kind}s'))[n != 1]}"
             for kind, n in sorted(counted.items(), key=lambda item: (-item[1], item[0]))]
    if children:
        parts.append("exec'd " + ", ".join(child.program for child in children))
    if not parts:
        return head
    said = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"{head} made {said}" if not said.startswith("exec'd") else f"{head} {said}"


# -- reading the groups of a verdict document (the renderers: CLI, notifications, dashboard) --

def walk_groups(groups: list[dict], depth: int = 0):
    """(depth, group) of every group of a verdict document, parents before their children."""
    for group in groups or []:
        if isinstance(group, dict):
            yield depth, group
            yield from walk_groups(group.get("children") or [], depth + 1)


def grouped_indexes(document: dict) -> set[int]:
    """Indexes of the anomalies some group holds (its head or a member)."""
    return {index for _, group in walk_groups(document.get("groups") or [])
            for index in [group.get("anomaly"), *(group.get("anomalies") or [])] if isinstance(index, int)}


def ungrouped_anomalies(document: dict) -> list[dict]:
    """The anomalies no group holds, in the document's order."""
    held = grouped_indexes(document)
    return [a for index, a in enumerate(document.get("anomalies") or []) if index not in held]


def members_by_kind(group: dict, anomalies: list[dict]) -> dict[str, list[str]]:
    """A group's own anomalies (not its children's) as {kind: [keys]}."""
    found: dict[str, list[str]] = {}
    for index in group.get("anomalies") or []:
        if isinstance(index, int) and 0 <= index < len(anomalies):
            found.setdefault(str(anomalies[index].get("kind")), []).append(str(anomalies[index].get("key")))
    return found
