"""`host-probe record` under faults injected for real, on the real kernel: a gate
server that hangs (SIGSTOP), a Postgres lock held by another session, the probe
killed with SIGKILL mid-window, a full disk under the spool (a 64 KiB tmpfs), a
window the server refuses with 413. The loop drains windows on schedule through
all of them; nothing spooled is lost; what is lost is counted where the judge
reads it (a window's drops)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid

import psycopg2
import pytest

from tests.probe.conftest import (
    PYTHON, REPO, drops, host_probe, migrated, read_profile, record_args, record_through_outage, totals,
    wait_until_recording,
)
from tests.probe.test_upload import LOOP, token, upload_args, uploads, with_token  # noqa: F401 (a fixture)
from tests.support.live_server import LiveServer

WINDOW_S = 1.0
# Each window's length: a loop held up by its destination would write one much longer.
ON_SCHEDULE_S = 1.6


def window_lengths(profile) -> list[float]:
    return [(w.ended_at - w.started_at).total_seconds() for w in profile.windows]


def freeze(server: LiveServer, sig: int) -> None:
    os.killpg(server.process.pid, sig)  # gunicorn's master and workers: their own session


def test_a_hung_server_does_not_hold_up_the_windows(uploads, tmp_path):
    server, database_url = uploads
    try:  # the server takes connections but never answers while two or more windows fall due
        record_through_outage(upload_args(server, tmp_path / "spool", "hung", "sh", "-c", LOOP.format(n=40)),
                              stop=lambda: freeze(server, signal.SIGSTOP), restart=lambda: freeze(server, signal.SIGCONT),
                              env=with_token(token(database_url, "ingest")))
    finally:
        freeze(server, signal.SIGCONT)
    profile = read_profile(database_url, "hung")
    assert len(profile.windows) >= 7
    assert max(window_lengths(profile)) < ON_SCHEDULE_S, window_lengths(profile)


def test_sigterm_while_the_server_hangs_stops_promptly_and_keeps_the_last_window(uploads, tmp_path):
    server, database_url = uploads
    spool = tmp_path / "spool"
    env = with_token(token(database_url, "ingest"))
    probe = subprocess.Popen([PYTHON, "-m", "host_probe.commands.cli",
                              *upload_args(server, spool, "hung-stop", "sh", "-c", LOOP.format(n=300))],
                             cwd=REPO, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        wait_until_recording(probe)
        time.sleep(1.5)
        freeze(server, signal.SIGSTOP)
        time.sleep(2.5)
        asked = time.monotonic()
        probe.send_signal(signal.SIGTERM)
        probe.wait(timeout=60)
        stopped_after = time.monotonic() - asked
    finally:
        freeze(server, signal.SIGCONT)
        os.killpg(probe.pid, signal.SIGKILL)  # its command, which a stop of the probe leaves running
    log = probe.stderr.read()
    assert probe.returncode == 0, log
    assert stopped_after < 10 + 3  # the sender's grace (10 s) and the last drain, not a request's timeout
    assert "did not take" in log and "`host-probe replay`, sends them" in log
    replayed = host_probe("replay", "--server", server.url, "--spool", str(spool), env=env)
    assert replayed.returncode == 0, replayed.stderr
    profile = read_profile(database_url, "hung-stop")
    assert len(profile.windows) >= 4
    assert max(window_lengths(profile)) < ON_SCHEDULE_S, window_lengths(profile)
    assert not list(spool.glob("*.jsonl"))


def test_a_postgres_lock_does_not_hold_up_the_windows(ebpf, postgres_url, tmp_path):
    db_url = migrated(postgres_url)
    holder = psycopg2.connect(db_url)  # another session, which holds the table the probe writes

    def lock() -> None:
        with holder.cursor() as cursor:
            cursor.execute("LOCK TABLE windows IN ACCESS EXCLUSIVE MODE")

    try:
        record_through_outage(record_args(db_url, tmp_path / "spool", "locked", "--", "sh", "-c", LOOP.format(n=40)),
                              stop=lock, restart=holder.rollback)
    finally:
        holder.close()
    profile = read_profile(db_url, "locked")
    assert len(profile.windows) >= 7
    assert max(window_lengths(profile)) < ON_SCHEDULE_S, window_lengths(profile)


def test_a_probe_killed_mid_window_loses_that_window_and_the_next_recording_says_so(ebpf, tmp_path):
    db_url = migrated(f"sqlite:///{tmp_path / 'gate.db'}")
    spool = tmp_path / "spool"
    killed = subprocess.Popen([PYTHON, "-m", "host_probe.commands.cli",
                               *record_args(db_url, spool, "killed", "--", "sh", "-c", LOOP.format(n=100))],
                              cwd=REPO, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_until_recording(killed)
        time.sleep(2.6)  # two windows written, the third open
        killed.send_signal(signal.SIGKILL)
        killed.wait()
    finally:
        os.killpg(killed.pid, signal.SIGKILL)  # its command, left running
    assert list(spool.glob("*.jsonl"))
    again = host_probe(*record_args(db_url, spool, "killed", "--", "sh", "-c", LOOP.format(n=10)))
    assert again.returncode == 0, again.stderr
    assert "ended without its last window" in again.stderr
    profile = read_profile(db_url, "killed")
    assert drops(profile)["window_lost"] >= 1  # the killed recording's open window, in the next one's drops
    assert sum(w.lost for w in profile.windows) >= drops(profile)["window_lost"]  # a loss the judge counts
    assert len(profile.windows) >= 2 + 2  # the killed recording's spooled windows are kept
    assert not list(spool.glob("*.jsonl"))


@pytest.fixture
def tiny_disk(tmp_path):
    mount = tmp_path / "tiny"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


MANY_FILES = """
import itertools, time
names = ("".join(p) for p in itertools.product("abcdefghij", repeat=4))
end = time.monotonic() + {seconds}
while time.monotonic() < end:
    for _ in range(400):
        try:
            open("/nonexistent-spool-test/" + next(names))
        except OSError:
            pass
    time.sleep(0.2)
"""


def test_a_full_disk_under_the_spool_says_so_once_and_loses_nothing_spooled(ebpf, tiny_disk, tmp_path):
    away = "postgresql://gate@127.0.0.1:9/away"  # nothing listens: every window stays spooled
    result = host_probe(*record_args(away, tiny_disk, "full", "--", PYTHON, "-c", MANY_FILES.format(seconds=6)))
    assert result.returncode == 0, result.stderr
    full = [line for line in result.stderr.splitlines() if "is full" in line]
    assert len(full) == 1, result.stderr
    assert "No space left on device" in full[0] and "window_unspooled" in full[0]
    (spooled,) = tiny_disk.glob("*.jsonl")
    lines = spooled.read_bytes().splitlines(keepends=True)
    records = [json.loads(line) for line in lines]  # every line whole: nothing torn by the full disk
    windows = [r for r in records if r["type"] == "window"]
    assert 1 <= len(windows) < 6
    db_url = migrated(f"sqlite:///{tmp_path / 'gate.db'}")
    replayed = host_probe("replay", "--db", db_url, "--spool", str(tiny_disk))
    assert replayed.returncode == 0, replayed.stderr
    assert len(read_profile(db_url, "full").windows) == len(windows)


BURST_THEN_QUIET = """
import itertools, time
time.sleep(1.3)
for p in itertools.product("abcdefghij", repeat=4):
    try:
        open("/nonexistent-spool-test/" + "".join(p))
    except OSError:
        pass
for _ in range(25):
    open("/etc/hostname").close()
    time.sleep(0.2)
"""


def test_a_window_refused_with_413_is_set_aside_and_counted_and_later_windows_go_on(ebpf, postgres_server, tmp_path):
    name = f"too_large_{uuid.uuid4().hex[:8]}"
    database_url = migrated(postgres_server.create_database(name))
    spool = tmp_path / "spool"
    try:
        with LiveServer(database_url, workers=2, env={"GATE_MAX_INGEST_BYTES": str(64 << 10)}) as server:
            result = host_probe(*upload_args(server, spool, "too-large", PYTHON, "-c", BURST_THEN_QUIET),
                                env=with_token(token(database_url, "ingest")))
        assert result.returncode == 0, result.stderr
        refused = [line for line in result.stderr.splitlines() if "for good" in line]
        (rejected,) = (spool / "rejected").glob("*.jsonl")
        set_aside = [json.loads(line) for line in rejected.open()]
        # the burst's window (two, when the burst straddles a window's end), each said in one line
        assert 1 <= len(refused) == len(set_aside) <= 2, result.stderr
        assert all("answered 413" in line and "window_rejected" in line for line in refused)
        assert all(record["type"] == "window" for record in set_aside)
        assert sum(len(record["data"]["features"]) for record in set_aside) > 5000
        profile = read_profile(database_url, "too-large")
        assert len(profile.windows) >= 5  # the windows after the refused one are stored
        assert drops(profile)["window_rejected"] == sum(r["data"]["events_total"] for r in set_aside)
        assert totals(profile)[("file", "/etc/hostname:r")] >= 15
        assert not list(spool.glob("*.jsonl"))
    finally:
        postgres_server.drop_database(name)
