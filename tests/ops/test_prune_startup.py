"""Retention keeps start-up windows and inventories at any age: a canary's start-up is
compared with them, and a baseline started weeks ago has no other record of its start."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from gate_server.cli import main
from gate_server.services.retention import prune
from gate_contract.models import Recording, Window
from gate_contract.records import RecordingInfo, WindowRecord
from gate_contract.writer import WindowWriter

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

    assert (planned.windows, planned.recordings) == (4 + 5, 1)
    assert (done.windows, done.recordings) == (planned.windows, 1)


def test_the_cli_says_start_up_windows_are_kept(engine, migrated_url, capsys):
    _seed_old_recording(engine, startup={0}, inventory=set())
    assert main(["prune", "--older-than", "30d", "--db", migrated_url]) == 0
    assert "start-up" in capsys.readouterr().out
    assert [tuple(row) for row in _kept(engine)] == [(0, True)]


def _seed_recordings_days_ago(engine, days: list[int]) -> list[str]:
    uuids = []
    for age in days:
        start = datetime.now(timezone.utc) - timedelta(days=age)
        writer = WindowWriter(engine)
        info = RecordingInfo(uuid=str(uuid.uuid4()), service="web", version="v1", started_at=start,
                             ended_at=start + timedelta(seconds=30))
        writer.save_recording(info)
        for index in range(3):
            begin = start + timedelta(seconds=10 * index)
            writer.write_window(WindowRecord(
                recording_uuid=info.uuid, index=index, started_at=begin, ended_at=begin + timedelta(seconds=10),
                syscalls_total=10, features=COUNTS, startup=index == 0))
        uuids.append(info.uuid)
    return uuids


def _startup_windows_of(engine) -> list[str]:
    with Session(engine) as session:
        return session.execute(select(Recording.uuid).join(Window).where(Window.startup.is_(True))
                               .order_by(Window.started_at)).scalars().all()


def test_start_up_windows_are_kept_up_to_a_cap_per_service_and_version_newest_first(engine):
    # A service re-deployed daily would otherwise keep every start-up window for ever.
    oldest, older, old, recent = _seed_recordings_days_ago(engine, [90, 60, 40, 1])

    report = prune(engine, datetime.now(timezone.utc) - timedelta(days=30), startup_windows_kept=2)

    assert _startup_windows_of(engine) == [old, recent]  # the newest two, the recent one counted
    assert report.windows == 3 * 2 + 2 * 1  # the old recordings' ordinary windows, and two start-up windows
    with Session(engine) as session:
        assert set(session.execute(select(Recording.uuid)).scalars()) == {old, recent}
    assert {oldest, older}.isdisjoint(_startup_windows_of(engine))


def test_the_start_up_cap_is_per_service_and_version(engine):
    _seed_recordings_days_ago(engine, [90, 60])
    with Session(engine) as session, session.begin():
        (first,) = session.execute(select(Recording).order_by(Recording.started_at).limit(1)).scalars()
        first.version = "v0"  # the older recording is another version's

    prune(engine, datetime.now(timezone.utc) - timedelta(days=30), startup_windows_kept=1)

    assert len(_startup_windows_of(engine)) == 2


def test_dry_run_counts_the_start_up_windows_over_the_cap(engine):
    _seed_recordings_days_ago(engine, [90, 60, 40])
    cutoff = datetime.now(timezone.utc) - timedelta(days=30)
    planned = prune(engine, cutoff, dry_run=True, startup_windows_kept=1)
    done = prune(engine, cutoff, startup_windows_kept=1)
    assert (planned.windows, planned.recordings) == (done.windows, done.recordings) == (3 * 2 + 2, 2)


def test_the_cli_takes_the_start_up_cap(engine, migrated_url, capsys):
    _seed_recordings_days_ago(engine, [90, 60])
    assert main(["prune", "--older-than", "30d", "--keep-startup-windows", "1", "--db", migrated_url]) == 0
    assert "at most 1 start-up" in capsys.readouterr().out
    assert len(_startup_windows_of(engine)) == 1


def test_the_cli_refuses_a_negative_start_up_cap(engine, migrated_url, capsys):
    assert main(["prune", "--older-than", "30d", "--keep-startup-windows", "-1", "--db", migrated_url]) == 2
    assert "--keep-startup-windows" in capsys.readouterr().err
