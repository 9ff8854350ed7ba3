"""Load a service version's windows from the database as a `Profile` for the judge.

A check reads every count of both versions (5 000 features x 30 windows per side is
300 000 counts), so each window's counts are one document the writer stored with it
(`Window.counts`: 30 rows per side), the only record of them (migration 0010). A `ProfileCache` lets a long-lived process (a server worker) read each
stored window only once: windows are written once and never updated, and feature
ids are never reused (features are never deleted), so a cached window is exactly
what the database holds.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime
from typing import Iterable, Optional

from sqlalchemy import BigInteger, Text, any_, cast, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, defer

from gate_contract.profile import FeatureKey, Profile, ProgramFacts, WindowCounts
from gate_contract.models import Feature, Recording, Service, Window, decode_window_counts, decode_window_document

# IN lists have limits on both dialects (SQLite's default is 32 766 bound parameters).
CHUNK = 500
FEATURE_CHUNK = 5000

# A crash-looping service makes a start-up window per restart, kept at any age: a check
# reads the newest this many.
MAX_REFERENCE_WINDOWS = 200

# (window id, recording id, index): a window id alone could be reused by SQLite after a prune.
WindowKey = tuple[int, int, int]
# A window's counts and its lineage, as the cache keeps them
StoredWindow = tuple[dict[FeatureKey, int], tuple[ProgramFacts, ...], frozenset[FeatureKey]]


class ProfileCache:
    """Per-process memory of window counts and feature names, bounded by stored counts."""

    def __init__(self, max_counts: int = 1_000_000, max_features: int = 500_000):
        self.max_counts = max_counts
        self.max_features = max_features
        self._windows: OrderedDict[WindowKey, StoredWindow] = OrderedDict()
        self._size = 0
        self.features: dict[int, FeatureKey] = {}
        self._lock = threading.Lock()  # threaded gunicorn workers share one cache

    def __len__(self) -> int:
        return len(self._windows)

    def get(self, key: WindowKey) -> Optional[StoredWindow]:
        with self._lock:
            stored = self._windows.get(key)
            if stored is not None:
                self._windows.move_to_end(key)
            return stored

    def put(self, key: WindowKey, stored: StoredWindow) -> None:
        counts = stored[0]
        with self._lock:
            if key in self._windows or len(counts) > self.max_counts:
                return
            self._windows[key] = stored
            self._size += len(counts)
            while self._size > self.max_counts:
                _, evicted = self._windows.popitem(last=False)
                self._size -= len(evicted[0])

    def known_features(self, feature_ids: set[int]) -> dict[int, FeatureKey]:
        """The names the cache holds now; a lookup keeps this copy, whatever clears the cache after."""
        with self._lock:
            return {fid: self.features[fid] for fid in feature_ids if fid in self.features}

    def remember_features(self, names: dict[int, FeatureKey]) -> None:
        with self._lock:
            if len(self.features) + len(names) > self.max_features:
                self.features.clear()  # rare: a feature dictionary this large means normalisation is leaking ids
            self.features.update(names)


# A window's stored counts: feature ids and their counts, in matching order, and its lineage.
IdCounts = tuple[list[int], list[int], list[list], list[int]]


def _stored_counts(session: Session, window_ids: list[int]) -> dict[int, IdCounts]:
    """{window id: (feature ids, counts, programs)}: the windows' documents."""
    result: dict[int, IdCounts] = {}
    for start in range(0, len(window_ids), CHUNK):
        rows = session.execute(select(Window.id, Window.counts).where(Window.id.in_(window_ids[start : start + CHUNK])))
        for window_id, document in rows:
            # NULL only in a window no writer of this code stored (0010 backfilled the rest)
            result[window_id] = decode_window_document(document) if document is not None else ([], [], [], [])
    return result


def _program_ids(programs: list[list]) -> set[int]:
    return {fid for program, started_by, made in programs for fid in (program, *started_by, *made)}


def _program_facts(programs: list[list], name_of) -> tuple[ProgramFacts, ...]:
    """A stored window's lineage (models.encode_window_counts) by feature name."""
    return tuple(ProgramFacts(program=name_of(program)[1], started_by=frozenset(name_of(p)[1] for p in started_by),
                              features=frozenset(map(name_of, made)))
                 for program, started_by, made in programs)


def _id_is_one_of(session: Session, ids: list[int]):
    if session.get_bind().dialect.name == "postgresql":
        # One array literal: psycopg2 adapts a list of ints one at a time, which made looking
        # up 5 000 ids 5x slower than the query itself (docs/benchmarks.md, "Check latency").
        return Feature.id == any_(cast(literal("{" + ",".join(map(str, ids)) + "}", Text), ARRAY(BigInteger)))
    return Feature.id.in_(ids)


def _feature_names(session: Session, feature_ids: set[int], cache: ProfileCache) -> dict[int, FeatureKey]:
    known = cache.known_features(feature_ids)
    unknown = sorted(feature_ids - known.keys())
    found: dict[int, FeatureKey] = {}
    for start in range(0, len(unknown), FEATURE_CHUNK):
        rows = session.execute(
            select(Feature.id, Feature.kind, Feature.key)
            .where(_id_is_one_of(session, unknown[start : start + FEATURE_CHUNK]))
        )
        found.update((fid, (kind, key)) for fid, kind, key in rows)
    cache.remember_features(found)  # may clear the names `known` was copied from
    return {**known, **found}


def load_profile(
    session: Session,
    service: str,
    version: str,
    *,
    role: Optional[str] = None,
    since: Optional[datetime] = None,
    until: Optional[datetime] = None,
    cache: Optional[ProfileCache] = None,
) -> Profile:
    """All windows of `service` at `version` (optionally one role, those received in a time
    range: a window's own times are its uploader's word, which backdating bends)."""
    query = (
        select(Window)
        .join(Recording, Window.recording_id == Recording.id)
        .join(Service, Recording.service_id == Service.id)
        .where(Service.name == service, Recording.version == version)
        .order_by(Window.started_at, Window.id)
    )
    if role:
        query = query.where(Recording.role == role)
    if since:
        query = query.where(Window.received_at >= since)
    if until:
        query = query.where(Window.received_at < until)
    # The documents are read only for windows the cache does not hold.
    windows = session.execute(query.options(defer(Window.counts))).scalars().all()
    return Profile(service=service, version=version, windows=_window_counts(session, windows, cache))


def load_startup_reference(
    session: Session, service: str, versions: Iterable[str], *, before: datetime,
    cache: Optional[ProfileCache] = None, limit: int = MAX_REFERENCE_WINDOWS,
) -> Profile:
    """The start-up windows and inventories of `service` at any of `versions` that started
    before `before` (the canary's first window, so no canary window vouches for its own
    recording's start), the newest `limit` of them, oldest first: what vouches for a
    canary's start-up (analysis/startup.py). Retention keeps them at any age."""
    versions = sorted(set(versions))
    query = (
        select(Window)
        .join(Recording, Window.recording_id == Recording.id)
        .join(Service, Recording.service_id == Service.id)
        .where(Service.name == service, Recording.version.in_(versions), Window.started_at < before,
               Window.startup.is_(True) | Window.inventory.is_not(None))
        .order_by(Window.started_at.desc(), Window.id.desc())
        .limit(limit)
    )
    windows = list(reversed(session.execute(query.options(defer(Window.counts))).scalars().all()))
    return Profile(service=service, version=", ".join(versions), windows=_window_counts(session, windows, cache),
                   label=f"earlier start-up windows of {' and '.join(versions)}")


def earlier_start_ups(session: Session, service: str, canary: Profile, versions: tuple[str, ...],
                      cache: Optional[ProfileCache] = None) -> Optional[Profile]:
    """What vouches for the canary's start-up: the start-up windows and inventories of these
    versions from before the canary's first window, at any age (retention keeps them)."""
    if not canary.windows or canary.windows[0].started_at is None:
        return None
    return load_startup_reference(session, service, versions, before=canary.windows[0].started_at, cache=cache)


def _window_counts(session: Session, windows: list[Window], cache: Optional[ProfileCache]) -> list[WindowCounts]:
    """The judge's windows for stored `windows` (their counts documents deferred)."""
    if not windows:
        return []
    cache = cache if cache is not None else ProfileCache()
    counts: dict[int, StoredWindow] = {}
    missing = []
    for w in windows:
        cached = cache.get((w.id, w.recording_id, w.index))
        if cached is None:
            missing.append(w)
        else:
            counts[w.id] = cached
    # Inventories are few (the first window of an attached recording) and small: read with the window.
    held_ids = {w.id: decode_window_counts(w.inventory)[0] for w in windows if w.inventory}
    if missing or held_ids:
        stored = _stored_counts(session, [w.id for w in missing]) if missing else {}
        named = set().union(*(ids for ids, *_ in stored.values()), *held_ids.values(),
                            *(_program_ids(programs) | set(unnamed) for _, _, programs, unnamed in stored.values()))
        names = _feature_names(session, named, cache)
        name_of = names.__getitem__
        for w in missing:
            ids, values, programs, unnamed = stored.get(w.id, ([], [], [], []))
            counts[w.id] = (dict(zip(map(name_of, ids), values)), _program_facts(programs, name_of),
                            frozenset(map(name_of, unnamed)))
            cache.put((w.id, w.recording_id, w.index), counts[w.id])
        held = {window_id: frozenset(map(name_of, ids)) for window_id, ids in held_ids.items()}
    else:
        held = {}

    return [
        WindowCounts(
            counts=counts[w.id][0], programs=counts[w.id][1], unnamed=counts[w.id][2], syscalls_total=int(w.syscalls_total),
            events_total=int(w.events_total), sample_every=int(w.sample_every),
            drops={k: int(v) for k, v in (w.drops or {}).items()},
            started_at=w.started_at, ended_at=w.ended_at,
            startup=bool(w.startup), inventory=held.get(w.id, frozenset()), hooks=dict(w.hooks or {}),
            workload_started_at=w.workload_started_at,
        )
        for w in windows
    ]
