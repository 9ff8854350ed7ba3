"""The window writer: one row per window, idempotent.

Sending the same recording or window twice stores it once (upserts keyed by the
probe-generated recording uuid and the window index), which is what makes the
probe's spool-and-replay safe. A window is one `windows` row whose counts are one
document (`Window.counts`, feature ids into the shared `features` dictionary): what a
check, retention and the seccomp export read. An inventory is a document of its own
(`Window.inventory`): it is no event count.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Iterable, Optional

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gate_contract.models import (
    Feature, Recording, Service, Window, WindowRollup, encode_window_counts,
)
from gate_contract.rollups import RollupSum, rollup_row, slot_start
from gate_contract.records import MAX_BIGINT, RecordingInfo, WindowRecord

# Keys longer than the column are cut, with a marker, rather than refused.
MAX_KEY_LENGTH = 1024
# Postgres caps bound parameters per statement at 65535; stay well below.
BATCH_ROWS = 2000
# A window row binds 13 parameters.
WINDOWS_PER_INSERT = 1000


def _insert(session: Session, table):
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def _clip(key: str) -> str:
    return key if len(key) <= MAX_KEY_LENGTH else key[: MAX_KEY_LENGTH - 3] + "..."


def _chunks(rows: list, size: int = BATCH_ROWS) -> Iterable[list]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def ensure_service(session: Session, name: str) -> int:
    session.execute(_insert(session, Service).values(name=name).on_conflict_do_nothing(index_elements=["name"]))
    return session.execute(select(Service.id).where(Service.name == name)).scalar_one()


def feature_ids(session: Session, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Ids for (kind, key) pairs, inserting the ones never seen before."""
    wanted = sorted({(kind, _clip(key)) for kind, key in keys})
    ids = _stored_feature_ids(session, wanted)
    # Nearly every window names only features already stored: read first, insert what is new.
    missing = [feature for feature in wanted if feature not in ids]
    for chunk in _chunks(missing):
        session.execute(
            _insert(session, Feature)
            .values([{"kind": kind, "key": key} for kind, key in chunk])
            .on_conflict_do_nothing(index_elements=["kind", "key"])
        )
    if missing:
        ids.update(_stored_feature_ids(session, missing))
    return ids


def _stored_feature_ids(session: Session, wanted: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    ids: dict[tuple[str, str], int] = {}
    by_kind: dict[str, list[str]] = {}
    for kind, key in wanted:
        by_kind.setdefault(kind, []).append(key)
    for kind, kind_keys in by_kind.items():
        for chunk in _chunks(kind_keys):
            rows = session.execute(
                select(Feature.id, Feature.key).where(Feature.kind == kind, Feature.key.in_(chunk))
            )
            ids.update({(kind, key): fid for fid, key in rows})
    return ids


class WindowWriter:
    def __init__(self, engine: Engine):
        self.engine = engine

    def save_recording(self, info: RecordingInfo) -> int:
        """Create the recording, or update its end if it exists."""
        with Session(self.engine) as session, session.begin():
            service_id = ensure_service(session, info.service)
            values = dict(
                uuid=info.uuid, service_id=service_id, version=info.version, role=info.role,
                host=info.host, kernel=info.kernel, scope=info.scope, started_at=info.started_at,
                ended_at=info.ended_at, sample_every=info.sample_every, rate_limit=info.rate_limit,
                probe_version=info.probe_version, startup=info.startup,
            )
            session.execute(
                _insert(session, Recording).values(**values).on_conflict_do_nothing(index_elements=["uuid"])
            )
            session.execute(
                update(Recording).where(Recording.uuid == info.uuid).values(ended_at=info.ended_at,
                                                                             startup=info.startup)
            )
            return session.execute(select(Recording.id).where(Recording.uuid == info.uuid)).scalar_one()

    def write_window(self, window: WindowRecord, received_at: Optional[datetime] = None) -> bool:
        """Store one window with its feature counts. Returns False if it was already stored."""
        return self.write_windows([window], received_at)[0]

    def write_windows(self, windows: list[WindowRecord], received_at: Optional[datetime] = None) -> list[bool]:
        """Store windows of stored recordings in one transaction: one feature lookup for all
        of them and one multi-row INSERT (what a fleet's ingest rate needs, issue 26). For each
        window, in order: True if new, False if it was already stored (kept as it was).

        `received_at`: when the server received them (the HTTP ingest says; an uploader's
        times are its word only). Without it the writer holds the database's credentials,
        the operator's own, and its window's end is its receipt (no later than now)."""
        if not windows:
            return []
        with Session(self.engine) as session, session.begin():
            recordings = _recordings(session, {window.recording_uuid for window in windows})
            recording_ids = {uuid: recording_id for uuid, (recording_id, _, _) in recordings.items()}
            clipped = [(_clipped(window.features), _clipped(window.inventory)) for window in windows]
            # Features first, so each window is one row with its documents. A replayed
            # window names features already stored: its lookup inserts nothing.
            named = {feature for counts, held in clipped for feature in (*counts, *held)}
            named |= {feature for window in windows for feature in _program_features(window)}
            ids = feature_ids(session, named)
            now = datetime.now(timezone.utc)
            by_id = [({ids[feature]: n for feature, n in counts.items()},
                      {ids[feature]: n for feature, n in held.items()}) for counts, held in clipped]
            rows = [_window_row(window, recording_ids[window.recording_uuid], counts, held,
                                received_at or min(window.ended_at, now), ids)
                    for window, (counts, held) in zip(windows, by_id)]
            # A window is unique by (recording, index, start) (migration 0014); a replay naming
            # a stored (recording, index) is kept as it was whatever start it now claims.
            stored = _stored_indexes(session, rows)
            inserted: set[tuple[int, int]] = set()
            for chunk in _chunks([row for row in rows if (row["recording_id"], row["index"]) not in stored],
                                 WINDOWS_PER_INSERT):
                # executemany with RETURNING: SQLAlchemy sends it as multi-row INSERTs ("insertmanyvalues")
                # from one cached compilation, unlike a .values([...]) compiled anew per batch.
                inserted.update(tuple(row) for row in session.execute(
                    _insert(session, Window)
                    .on_conflict_do_nothing(index_elements=["recording_id", "index", "started_at"])
                    .returning(Window.recording_id, Window.index),
                    chunk,
                ))
            created = [(row["recording_id"], row["index"]) in inserted for row in rows]
            _append_rollups(session, [(recordings[window.recording_uuid], row, counts, held)
                                      for window, row, (counts, held), new in zip(windows, rows, by_id, created)
                                      if new])
            return created


def _stored_indexes(session: Session, rows: list[dict]) -> set[tuple[int, int]]:
    """(recording id, index) of these rows already stored: one query for the batch."""
    wanted = {(row["recording_id"], row["index"]) for row in rows}
    recordings = sorted({recording_id for recording_id, _ in wanted})
    indexes = sorted({index for _, index in wanted})
    found = session.execute(select(Window.recording_id, Window.index).where(
        Window.recording_id.in_(recordings), Window.index.between(indexes[0], indexes[-1])))
    return {tuple(row) for row in found} & wanted


def _recordings(session: Session, uuids: set[str]) -> dict[str, tuple[int, int, str]]:
    """uuid -> (recording id, service id, version)."""
    found = {uuid: (rid, service_id, version) for uuid, rid, service_id, version in session.execute(
        select(Recording.uuid, Recording.id, Recording.service_id, Recording.version)
        .where(Recording.uuid.in_(sorted(uuids)))).all()}
    missing = sorted(uuids - found.keys())
    if missing:
        raise LookupError(f"recording {missing[0]} is not stored; save it first")
    return found


def _append_rollups(session: Session, new_rows: list[tuple[tuple[int, int, str], dict, dict, dict]]) -> None:
    """One rollup row per (service, version, slot, start-up) of the windows newly stored."""
    sums: dict[tuple[int, str, object, bool], RollupSum] = {}
    for (_, service_id, version), row, counts, held in new_rows:
        # By receipt: drift places a window in a period by when the server got it (0013), not by its own word.
        key = (service_id, version, slot_start(row["received_at"]), bool(row["startup"]))
        sums.setdefault(key, RollupSum()).add(
            syscalls_total=row["syscalls_total"], events_total=row["events_total"],
            sample_every=row["sample_every"], drops=row["drops"], hooks=row["hooks"], counts=counts.items(),
            inventory=held)
    if sums:
        session.execute(_insert(session, WindowRollup), [rollup_row(key, total) for key, total in sums.items()])


def _window_row(window: WindowRecord, recording_id: int, counts: dict[int, int], held: dict[int, int],
                received_at: datetime, ids: dict[tuple[str, str], int]) -> dict:
    # Every row names every column: an executemany's rows must share one shape.
    return dict(
        recording_id=recording_id, index=window.index, started_at=window.started_at, ended_at=window.ended_at,
        received_at=received_at,
        syscalls_total=window.syscalls_total, events_total=window.events_total, sample_every=window.sample_every,
        drops=dict(window.drops), startup=window.startup, hooks=dict(window.hooks) or None,
        workload_started_at=window.workload_started_at,
        counts=encode_window_counts(counts, _programs(window, ids),
                                    sorted({ids[kind, _clip(key)] for kind, key in window.unnamed})),
        inventory=encode_window_counts(held) if held else None,
    )


def _program_features(window: WindowRecord) -> Iterable[tuple[str, str]]:
    for activity in window.programs:
        yield "exec", _clip(activity.program)
        yield from (("exec", _clip(program)) for program in activity.started_by)
        yield from ((kind, _clip(key)) for kind, key in activity.features)
    yield from ((kind, _clip(key)) for kind, key in window.unnamed)


def _programs(window: WindowRecord, ids: dict[tuple[str, str], int]) -> list[tuple[int, list[int], list[int]]]:
    """Lineage by feature id, as encode_window_counts stores it."""
    return [(ids["exec", _clip(activity.program)],
             sorted({ids["exec", _clip(program)] for program in activity.started_by}),
             sorted({ids[kind, _clip(key)] for kind, key in activity.features}))
            for activity in window.programs]


def _clipped(counts: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    """Counts by stored key: two keys that clip to the same one are one feature, counts summed
    up to the largest BIGINT (each count fits one; their sum need not)."""
    clipped: dict[tuple[str, str], int] = {}
    for (kind, key), count in counts.items():
        stored = (kind, _clip(key))
        clipped[stored] = min(clipped.get(stored, 0) + int(count), MAX_BIGINT)
    return clipped
