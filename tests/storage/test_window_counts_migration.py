"""Migration 0002 gives windows stored before it their counts document, and a check
reads exactly the counts it read before; its downgrade loses no count."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from alembic import command
from sqlalchemy import MetaData, func, inspect, select
from sqlalchemy.orm import Session

from gate_server.storage import migrate
from gate_contract.engine import make_engine
from gate_contract.models import Window, WindowFeature
from gate_server.storage.profiles import load_profile
from gate_contract.records import RecordingInfo, WindowRecord
from gate_contract.writer import WindowWriter

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
# Shared features, one only in the second window, and a window that counted nothing.
WINDOWS = [
    {("syscall", "read"): 10, ("file", "/etc/hosts:r"): 2, ("connect", "inet:10.0.0.5:5432"): 3},
    {("syscall", "read"): 7, ("exec", "/bin/sh"): 1, ("file", "/etc/hosts:r"): 4},
    {},
]


def _write_at_0001(url: str) -> None:
    """Store WINDOWS the way revision 0001's schema holds them: counts only in window_features."""
    engine = make_engine(url)
    tables = MetaData()
    tables.reflect(engine)
    services, recordings, windows, features, window_features = (
        tables.tables[name] for name in ("services", "recordings", "windows", "features", "window_features"))
    feature_ids: dict[tuple[str, str], int] = {}
    with engine.begin() as conn:
        service_id = conn.execute(services.insert().values(name="web", created_at=T0)
                                  .returning(services.c.id)).scalar_one()
        recording_id = conn.execute(recordings.insert().values(
            uuid=str(uuid.uuid4()), service_id=service_id, version="v1", role="baseline", host="h1",
            kernel="6.1", scope="", started_at=T0, sample_every=1, events_seen=0, drops={}, probe_version="",
        ).returning(recordings.c.id)).scalar_one()
        for index, counts in enumerate(WINDOWS):
            began = T0 + timedelta(seconds=10 * index)
            window_id = conn.execute(windows.insert().values(
                recording_id=recording_id, index=index, started_at=began, ended_at=began + timedelta(seconds=10),
                syscalls_total=sum(counts.values()), events_total=0, sample_every=1, drops={},
            ).returning(windows.c.id)).scalar_one()
            for feature, count in counts.items():
                if feature not in feature_ids:
                    feature_ids[feature] = conn.execute(features.insert().values(kind=feature[0], key=feature[1])
                                                        .returning(features.c.id)).scalar_one()
                conn.execute(window_features.insert().values(window_id=window_id, feature_id=feature_ids[feature],
                                                             count=count))
    engine.dispose()


def _loaded_counts(url: str) -> list[dict]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return [w.counts for w in load_profile(session, "web", "v1").windows]
    finally:
        engine.dispose()


def _scalars(url: str, statement) -> list:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return list(session.execute(statement).scalars())
    finally:
        engine.dispose()


def _documents(url: str) -> list:
    return _scalars(url, select(Window.counts).order_by(Window.index))


def _window_feature_rows(url: str) -> int:
    return _scalars(url, select(func.count()).select_from(WindowFeature))[0]


def _window_columns(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return {column["name"] for column in inspect(engine).get_columns("windows")}
    finally:
        engine.dispose()


def test_upgrade_backfills_documents_of_windows_written_at_0001(database_url):
    migrate.upgrade(database_url, "0001")
    _write_at_0001(database_url)

    migrate.upgrade(database_url)

    documents = _documents(database_url)
    assert len(documents) == len(WINDOWS) and None not in documents  # the check reads documents, not the fallback
    assert _window_feature_rows(database_url) == sum(len(counts) for counts in WINDOWS)
    assert _loaded_counts(database_url) == WINDOWS


def test_downgrade_drops_documents_and_keeps_every_count(database_url):
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    writer = WindowWriter(engine)
    recording = RecordingInfo(uuid=str(uuid.uuid4()), service="web", version="v1", started_at=T0)
    writer.save_recording(recording)
    for index, counts in enumerate(WINDOWS):
        began = T0 + timedelta(seconds=10 * index)
        writer.write_window(WindowRecord(recording_uuid=recording.uuid, index=index, started_at=began,
                                         ended_at=began + timedelta(seconds=10), syscalls_total=1, features=counts))
    engine.dispose()

    command.downgrade(migrate.alembic_config(database_url), "0001")

    assert "counts" not in _window_columns(database_url)
    assert _window_feature_rows(database_url) == sum(len(counts) for counts in WINDOWS)
    migrate.upgrade(database_url)
    assert _loaded_counts(database_url) == WINDOWS
