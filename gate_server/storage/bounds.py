"""The bound on a version's steady windows per host, enforced where windows are stored.

A check needs enough windows of each side to judge (tens to low hundreds:
docs/operations.md, "Bounded storage"), not every window of a version's life. Per
(service, version, host) the server keeps every start-up window and every window
carrying an inventory (retention caps those), and at most `bound` steady windows: a
sample stratified by time, so a version that ran for a month keeps windows spread
over the month rather than its first or last hours.

How: when a group holds more than `bound` steady windows, its time from the first
steady window is cut into equal spans, the narrowest power-of-two seconds wide that
leaves at most `bound` of them holding a window, and the earliest window of each span
stays (`stratified_sample`). A thinning leaves between half the bound and the bound,
so a group is thinned again only after many more uploads, not at each one.

A quarter of the bound is kept for rare features: a window holding a feature no other
kept window holds (the one exec of a cron job, a connect made once) stays, earliest
first, so thinning never removes a feature from what a check of the version sees
while that budget lasts (`representative_sample`).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import AbstractSet, Hashable, Iterable, Sequence, TypeVar

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.orm import Session

from gate_contract.models import Recording, Window, decode_window_counts

Key = TypeVar("Key", bound=Hashable)
# (service id, version, host)
Group = tuple[int, str, str]


def stratified_sample(windows: Sequence[tuple[Key, datetime]], bound: int) -> set[Key]:
    """The keys kept of `windows` (key, start time): the earliest window of each span of
    time of one width, counted from the first window, the width the narrowest power of two
    seconds that leaves at most `bound` windows. Widths nest (a span of 2w is two of w),
    so thinning again later keeps a subset of what an earlier thinning kept: the sample
    stays evenly spread however often it is thinned."""
    if len(windows) <= bound:
        return {key for key, _ in windows}
    ordered = sorted(windows, key=lambda window: (window[1], str(window[0])))
    first, last = ordered[0][1], ordered[-1][1]
    span = max((last - first).total_seconds(), 1.0)
    width = 2.0 ** max(0, math.floor(math.log2(span / bound)))
    while True:
        kept: dict[int, Key] = {}
        for key, started in ordered:
            kept.setdefault(int((started - first).total_seconds() // width), key)
        if len(kept) <= bound:
            return set(kept.values())
        width *= 2


def representative_sample(windows: Sequence[tuple[Key, datetime, AbstractSet[int]]], bound: int) -> set[Key]:
    """At most `bound` keys of `windows` (key, start time, feature ids): a time-stratified
    sample of three quarters of the bound, and, with the rest, the earliest windows holding
    a feature the sample lacks."""
    if len(windows) <= bound:
        return {key for key, _, _ in windows}
    rare_budget = bound // 4
    kept = stratified_sample([(key, started) for key, started, _ in windows], bound - rare_budget)
    covered: set[int] = set().union(*(features for key, _, features in windows if key in kept))
    for key, _, features in sorted(windows, key=lambda window: (window[1], str(window[0]))):
        if rare_budget == 0:
            break
        if key not in kept and not features <= covered:
            kept.add(key)
            covered |= features
            rare_budget -= 1
    return kept


def _is_steady():
    return Window.startup.is_(False) & Window.inventory.is_(None)


def groups_of_recordings(session: Session, recording_uuids: Iterable[str]) -> set[Group]:
    uuids = sorted(set(recording_uuids))
    if not uuids:
        return set()
    return {tuple(row) for row in session.execute(
        select(Recording.service_id, Recording.version, Recording.host).where(Recording.uuid.in_(uuids)))}


def over_bound(session: Session, groups: set[Group], bound: int) -> list[Group]:
    """The groups holding more than `bound` steady windows (one grouped count for all)."""
    if not groups:
        return []
    key = (Recording.service_id, Recording.version, Recording.host)
    rows = session.execute(
        select(*key).join(Window, Window.recording_id == Recording.id)
        .where(tuple_(*key).in_(sorted(groups)), _is_steady())
        .group_by(*key).having(func.count(Window.id) > bound))
    return [tuple(row) for row in rows]


def thin_group(session: Session, group: Group, bound: int) -> int:
    """Delete a group's steady windows down to a time-stratified sample; the number deleted."""
    service_id, version, host = group
    windows = session.execute(
        select(Window.id, Window.started_at, Window.counts).join(Recording, Recording.id == Window.recording_id)
        .where(Recording.service_id == service_id, Recording.version == version, Recording.host == host,
               _is_steady())).all()
    if len(windows) <= bound:
        return 0
    kept = representative_sample([(wid, started, frozenset(decode_window_counts(counts)[0]) if counts else frozenset())
                                  for wid, started, counts in windows], bound)
    doomed = [wid for wid, _, _ in windows if wid not in kept]
    for start in range(0, len(doomed), 1000):
        session.execute(delete(Window).where(Window.id.in_(doomed[start:start + 1000])))
    return len(doomed)


def enforce_steady_bound(session: Session, recording_uuids: Iterable[str], bound: int) -> int:
    """Thin every group of these recordings (by uuid) that is over the bound (0: no bound); windows deleted."""
    if bound <= 0:
        return 0
    return sum(thin_group(session, group, bound)
               for group in over_bound(session, groups_of_recordings(session, recording_uuids), bound))
