"""Retention keeps start-up windows and inventories at any age: a canary's start-up is
compared with them, and a baseline started weeks ago has no other record of its start."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from gate_server.cli import main
from gate_server.services.retention import prune
from gate_server.storage.models import Recording, Window
from gate_server.storage.records import RecordingInfo, WindowRecord
from gate_server.storage.writer import WindowWriter

COUNTS = {("syscall", "read"): 10, ("file", "/etc/hosts:r"): 1}
HELD = {("listen", "inet:127.0.0.1:8080"): 1}


def _seed_old_recording(engine, *, startup: set[int], inventory: set[int], windows: int = 5) -> str:
    start = datetime.now(timezone.utc) - timedelta(days=40)
    writer = WindowWriter(engine)
    info = RecordingInfo(uuid=str(uuid.uuid4()), service="web", version="v1", started_at=start,
                         ended_at=start + timedelta(seconds=10 * windows))
    writer.save_recording(info)
    for index in range(windows):
        begin = start + timedelta(seconds=10 * index)
        writer.write_window(WindowRecord(
            recording_uuid=info.uuid, index=index, started_at=begin, ended_at=begin + timedelta(seconds=10),
            syscalls_total=10, features=COUNTS, startup=index in startup,
            inventory=HELD if index in inventory else {}))
    return info.uuid


def _kept(engine) -> list[tuple[int, bool]]:
    with Session(engine) as session:
        return session.execute(select(Window.index, Window.startup).order_by(Window.index)).all()


def test_prune_keeps_old_start_up_windows_and_inventories_and_their_recording(engine):
    kept = _seed_old_recording(engine, startup={1}, inventory={0})
    dropped = _seed_old_recording(engine, startup=set(), inventory=set())

    report = prune(engine, datetime.now(timezone.utc) - timedelta(days=30))

    assert (report.windows, report.recordings) == (3 + 5, 1)
    assert [tuple(row) for row in _kept(engine)] == [(0, False), (1, True)]
    with Session(engine) as session:
        assert session.execute(select(Recording.uuid)).scalars().all() == [kept]
    assert dropped != kept


def test_dry_run_counts_what_prune_deletes_around_start_up_windows(engine):
    _seed_old_recording(engine, startup={0}, inventory=set())
    _seed_old_recording(engine, startup=set(), inventory=set())
    cutoff = datetime.now(timezone.utc) - timedelta(days=30)

    planned = prune(engine, cutoff, dry_run=True)
    done = prune(engine, cutoff)

    assert (planned.windows, planned.window_counts, planned.recordings) == (4 + 5, 2 * 9, 1)
    assert (done.windows, done.window_counts, done.recordings) == (planned.windows, planned.window_counts, 1)


def test_the_cli_says_start_up_windows_are_kept(engine, migrated_url, capsys):
    _seed_old_recording(engine, startup={0}, inventory=set())
    assert main(["prune", "--older-than", "30d", "--db", migrated_url]) == 0
    assert "start-up" in capsys.readouterr().out
    assert [tuple(row) for row in _kept(engine)] == [(0, True)]
