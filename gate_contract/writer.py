"""The window writer: one transaction per window, batched, idempotent.

Sending the same recording or window twice stores it once (upserts keyed by the
probe-generated recording uuid and the window index), which is what makes the
probe's spool-and-replay safe. A window's counts are stored twice in its one
transaction: as window_features rows (what retention and the seccomp export query) and
as the window's counts document (what a check reads: one row per window). An inventory
is stored only as a document of its own (`Window.inventory`): it is no event count.
"""

from __future__ import annotations

from typing import Iterable

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gate_contract.models import (
    Feature, Recording, Service, Window, WindowFeature, encode_window_counts,
)
from gate_contract.records import MAX_BIGINT, RecordingInfo, WindowRecord

# Keys longer than the column are cut, with a marker, rather than refused.
MAX_KEY_LENGTH = 1024
# Postgres caps bound parameters per statement at 65535; stay well below.
BATCH_ROWS = 2000


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
                probe_version=info.probe_version,
            )
            session.execute(
                _insert(session, Recording).values(**values).on_conflict_do_nothing(index_elements=["uuid"])
            )
            session.execute(
                update(Recording).where(Recording.uuid == info.uuid).values(ended_at=info.ended_at)
            )
            return session.execute(select(Recording.id).where(Recording.uuid == info.uuid)).scalar_one()

    def write_window(self, window: WindowRecord) -> bool:
        """Store one window with its feature counts. Returns False if it was already stored."""
        with Session(self.engine) as session, session.begin():
            recording_id = session.execute(
                select(Recording.id).where(Recording.uuid == window.recording_uuid)
            ).scalar_one_or_none()
            if recording_id is None:
                raise LookupError(f"recording {window.recording_uuid} is not stored; save it first")
            inserted = session.execute(
                _insert(session, Window)
                .values(
                    recording_id=recording_id, index=window.index, started_at=window.started_at,
                    ended_at=window.ended_at, syscalls_total=window.syscalls_total,
                    events_total=window.events_total, sample_every=window.sample_every,
                    drops=dict(window.drops), startup=window.startup, hooks=dict(window.hooks) or None,
                )
                .on_conflict_do_nothing(index_elements=["recording_id", "index"])
                .returning(Window.id)
            ).scalar_one_or_none()
            if inserted is None:
                return False
            counts, held = _clipped(window.features), _clipped(window.inventory)
            ids = feature_ids(session, {**counts, **held})
            by_id = {ids[feature]: count for feature, count in counts.items()}
            rows = [{"window_id": inserted, "feature_id": fid, "count": count} for fid, count in by_id.items()]
            # executemany form: compiled once and cached; a .values([...]) of N rows is compiled anew
            # for every window (bench/load.py measured that as most of an upload's time)
            if rows:  # an executemany of no rows would be one INSERT of nothing (NOT NULL fails)
                session.execute(_insert(session, WindowFeature), rows)
            documents = {"counts": encode_window_counts(by_id)}
            if held:
                documents["inventory"] = encode_window_counts({ids[feature]: n for feature, n in held.items()})
            session.execute(update(Window).where(Window.id == inserted).values(**documents))
            return True


def _clipped(counts: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    """Counts by stored key: two keys that clip to the same one are one feature, counts summed
    up to the largest BIGINT (each count fits one; their sum need not)."""
    clipped: dict[tuple[str, str], int] = {}
    for (kind, key), count in counts.items():
        stored = (kind, _clip(key))
        clipped[stored] = min(clipped.get(stored, 0) + int(count), MAX_BIGINT)
    return clipped
