"""Reading a verdict document's groups (lineage.py, rate_group.py) as the renderers show
them: the CLI, notifications, the check page and the demo read a check as entries, each
group one entry (its children nested) and each anomaly no group holds one more, heaviest
first. The Action keeps its own copy (it imports nothing of the repository)."""

from __future__ import annotations

from typing import Iterator

from gate_server.analysis.verdict import severity_rank


def walk_groups(groups: list[dict], depth: int = 0) -> Iterator[tuple[int, dict]]:
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


def entries(document: dict) -> list[tuple[str, dict]]:
    """("group", a top-level group) and ("anomaly", an anomaly no group holds): what a reader
    sees first, heaviest first (groups before rows of the same severity)."""
    found = [("group", group) for group in document.get("groups") or [] if isinstance(group, dict)]
    found += [("anomaly", anomaly) for anomaly in ungrouped_anomalies(document) if isinstance(anomaly, dict)]
    return sorted(found, key=lambda entry: severity_rank(entry[1].get("severity")))


def group_rows(group: dict, anomalies: list[dict]) -> list[dict]:
    """The anomalies a group holds itself (not its children's), its head first."""
    return [anomalies[index] for index in [group.get("anomaly"), *(group.get("anomalies") or [])]
            if isinstance(index, int) and 0 <= index < len(anomalies) and isinstance(anomalies[index], dict)]


def members_by_kind(group: dict, anomalies: list[dict]) -> dict[str, list[str]]:
    """A group's own anomalies as {label: [keys]}: by kind, what its parent did to start the
    program apart ("syscall (starting it)"); a program's head is its summary, a rate
    group's head is listed."""
    start = set(group.get("started_with") or [])
    indexes = [*([group.get("anomaly")] if group.get("cause") == "rates" else []), *(group.get("anomalies") or [])]
    found: dict[str, list[str]] = {}
    for index in indexes:
        if isinstance(index, int) and 0 <= index < len(anomalies) and isinstance(anomalies[index], dict):
            label = str(anomalies[index].get("kind")) + (" (starting it)" if index in start else "")
            found.setdefault(label, []).append(str(anomalies[index].get("key")))
    return dict(sorted(found.items(), key=lambda item: item[0].endswith("(starting it)")))
