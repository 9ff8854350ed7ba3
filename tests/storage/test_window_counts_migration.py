"""Migrations 0002 and 0010 give every window stored before them its counts document and
then make the document the only record (window_features goes): a check reads exactly the
counts it read before, and the downgrades lose no count."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from alembic import command
from sqlalchemy import MetaData, inspect, select, text
from sqlalchemy.orm import Session

from gate_server.storage import migrate
from gate_contract.engine import make_engine
from gate_contract.models import Window
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
    """Store WINDOWS the way revision 0001's schema holds them (and a writer of its time went on
    storing them after 0002): counts only in window_features."""
    engine = make_engine(url)
    tables = MetaData()
    tables.reflect(engine)
    services, recordings, windows, features, window_features = (
        tables.tables[name] for name in ("services", "recordings", "windows", "features", "window_features"))
    feature_ids: dict[tuple[str, str], int] = {}
    with engine.begin() as conn:
        service_id = conn.execute(services.insert().values(name="web", created_at=T0)
                                  .returning(services.c.id)).scalar_one()
        legacy_totals = {"events_seen": 0, "drops": {}} if "events_seen" in recordings.c else {}  # before 0003
        recording_id = conn.execute(recordings.insert().values(
            uuid=str(uuid.uuid4()), service_id=service_id, version="v1", role="baseline", host="h1",
            kernel="6.1", scope="", started_at=T0, sample_every=1, probe_version="", **legacy_totals,
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
    return _scalars(url, text("SELECT count(*) FROM window_features"))[0]


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


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
    assert len(documents) == len(WINDOWS) and None not in documents
    assert "window_features" not in _tables(database_url)  # the document is the one record
    assert _loaded_counts(database_url) == WINDOWS


def test_windows_stored_without_a_document_after_0002_get_one_before_the_rows_go(database_url):
    migrate.upgrade(database_url, "0009")
    _write_at_0001(database_url)  # a writer older than 0002, still running after it
    assert _documents(database_url) == [None] * len(WINDOWS)

    migrate.upgrade(database_url)

    assert None not in _documents(database_url)
    assert "window_features" not in _tables(database_url)
    assert _loaded_counts(database_url) == WINDOWS


def test_downgrades_rebuild_the_rows_and_drop_the_documents_keeping_every_count(database_url):
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

    command.downgrade(migrate.alembic_config(database_url), "0009")
    assert _window_feature_rows(database_url) == sum(len(counts) for counts in WINDOWS)
    command.downgrade(migrate.alembic_config(database_url), "0001")

    assert "counts" not in _window_columns(database_url)
    assert _window_feature_rows(database_url) == sum(len(counts) for counts in WINDOWS)
    migrate.upgrade(database_url)
    assert _loaded_counts(database_url) == WINDOWS
