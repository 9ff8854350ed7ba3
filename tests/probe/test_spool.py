"""The spool's integrity under faults injected for real, without the kernel: a
torn or corrupt line, a second process on the same spool directory, a writer
killed with SIGKILL, a record the database refuses for good (a real constraint
in a real Postgres), a record the database takes late (a real lock)."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from gate_contract.engine import make_engine
from gate_server.services.tokens import create_token
from gate_contract.records import RecordingInfo, WindowRecord
from host_probe.delivery.destinations import DatabaseDestination, ServerDestination
from host_probe.errors import Rejected
from host_probe.delivery import sender as sender_module
from host_probe.delivery.sender import Sender
from host_probe.delivery.spool import LossLedger, SpoolFile, identity_key
from tests.probe.conftest import REPO, host_probe, migrated, read_profile
from tests.support.live_server import LiveServer

START = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)


def recording(version: str, ended: bool = False) -> dict:
    info = RecordingInfo(uuid=str(uuid.UUID(int=abs(hash(version)))), service="probe-test", version=version,
                         started_at=START, ended_at=START + timedelta(seconds=30) if ended else None)
    return {"type": "recording", "data": info.to_dict()}


def window(recording_entry: dict, index: int, syscalls: int = 100, events: int = 10) -> dict:
    begin = START + timedelta(seconds=index)
    record = WindowRecord(recording_uuid=recording_entry["data"]["uuid"], index=index, started_at=begin,
                          ended_at=begin + timedelta(seconds=1), syscalls_total=syscalls, events_total=events,
                          features={("syscall", "read"): syscalls})
    return {"type": "window", "data": record.to_dict()}


def spool_lines(path: Path, *entries) -> None:
    """Write a spool file as a probe would have left it: entries are records or raw bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        for entry in entries:
            out.write(entry if isinstance(entry, bytes) else (json.dumps(entry) + "\n").encode())


def replay(db_url: str, spool: Path) -> subprocess.CompletedProcess:
    return host_probe("replay", "--db", db_url, "--spool", str(spool))


def test_a_torn_or_corrupt_line_is_skipped_counted_and_replay_goes_on(tmp_path):
    db_url = migrated(f"sqlite:///{tmp_path / 'gate.db'}")
    spool = tmp_path / "spool"
    head = recording("torn", ended=True)
    windows = [window(head, i) for i in range(4)]
    spool_lines(spool / f"{head['data']['uuid']}.jsonl", head, windows[0], b"\x00\x17garbage{\n", windows[1],
                b'{"type": "window", "data": 7}\n', windows[2], windows[3], b'{"type": "window", "da')
    result = replay(db_url, spool)
    assert result.returncode == 0, result.stderr
    assert "skipped 3 corrupt lines" in result.stderr and "spool_corrupt_lines" in result.stderr
    assert "replayed 1 spool files" in result.stdout
    assert len(read_profile(db_url, "torn").windows) == 4
    assert not list(spool.glob("*.jsonl"))


def test_the_sender_counts_corrupt_lines_once(tmp_path):
    db_url = migrated(f"sqlite:///{tmp_path / 'gate.db'}")
    spool = tmp_path / "spool"
    head = recording("counted", ended=True)
    spool_lines(spool / f"{head['data']['uuid']}.jsonl", head, b"not json\n", window(head, 0), b"[1, 2]\n")
    said = []
    sender = Sender(DatabaseDestination(db_url), spool, said.append, LossLedger(spool))
    assert sender.adopt_orphans() == 1
    assert sender.deliver() and sender.deliver()
    assert sender.corrupt_lines == 2
    assert len([line for line in said if "corrupt" in line]) == 1
    assert len(read_profile(db_url, "counted").windows) == 1


WRITER = """
import sys, time
from host_probe.delivery.spool import SpoolFile
from pathlib import Path
spool_file = SpoolFile.create(Path(sys.argv[1]))
for line in sys.argv[2:]:
    spool_file.append(__import__("json").loads(line))
print("written", flush=True)
time.sleep(600)
"""


def test_replay_never_takes_a_file_a_live_probe_holds(tmp_path):
    """A probe that is writing holds its file's lock: replay leaves it alone; once the
    probe is killed (SIGKILL: the kernel drops its lock), replay takes it, and counts
    the window the killed probe never wrote."""
    db_url = migrated(f"sqlite:///{tmp_path / 'gate.db'}")
    spool = tmp_path / "spool"
    head = recording("held")
    path = spool / f"{head['data']['uuid']}.jsonl"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), json.dumps(head),
                               *(json.dumps(window(head, i, events=30)) for i in range(3))],
                              cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "written"
        busy = replay(db_url, spool)
        assert busy.returncode == 0, busy.stderr
        assert "replayed 0 spool files" in busy.stdout and "1 in use by a running probe" in busy.stdout
        assert path.exists() and read_profile(db_url, "held").windows == []
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    taken = replay(db_url, spool)
    assert taken.returncode == 0, taken.stderr
    assert "replayed 1 spool files" in taken.stdout
    assert "ended without its last window" in taken.stderr
    assert len(read_profile(db_url, "held").windows) == 3
    assert not path.exists()
    # the lost window waits for the next window of the same service and version: 30 events, the mean
    assert LossLedger(spool).claim(identity_key(head["data"])) == {"window_lost": 30}


def test_a_file_removed_by_its_writer_is_not_taken(tmp_path):
    spool_file = SpoolFile.create(tmp_path / "a.jsonl")
    assert SpoolFile.adopt(tmp_path / "a.jsonl") is None  # locked by its writer (this process, another fd)
    spool_file.remove()
    assert SpoolFile.adopt(tmp_path / "a.jsonl") is None


@pytest.fixture
def pg_url(postgres_url):
    return migrated(postgres_url)


def test_a_record_the_database_refuses_is_set_aside_and_counted(pg_url, tmp_path):
    """A constraint violation is not an outage: the window is set aside in rejected/,
    its events counted for the next window, and the windows after it are stored."""
    engine = make_engine(pg_url)
    with engine.begin() as connection:  # the database's own rule, as an operator might add one
        connection.execute(text("ALTER TABLE windows ADD CONSTRAINT at_most_1000_syscalls "
                                "CHECK (syscalls_total <= 1000)"))
    engine.dispose()
    spool = tmp_path / "spool"
    head = recording("refused", ended=True)
    spool_lines(spool / f"{head['data']['uuid']}.jsonl", head, window(head, 0),
                window(head, 1, syscalls=5000, events=77), window(head, 2), window(head, 3))
    destination = DatabaseDestination(pg_url)
    said = []
    sender = Sender(destination, spool, said.append, LossLedger(spool))
    sender.adopt_orphans()
    assert sender.deliver()
    with pytest.raises(Rejected, match="at_most_1000_syscalls"):
        destination.store(window(head, 9, syscalls=5000))
    assert [w.syscalls_total for w in read_profile(pg_url, "refused").windows] == [100, 100, 100]
    rejected_file = spool / "rejected" / f"{head['data']['uuid']}.jsonl"
    rejected = [json.loads(line) for line in rejected_file.open()]
    assert [r["data"]["index"] for r in rejected] == [1]
    # what the workload did, set aside: no other user of the host reads it
    assert stat.S_IMODE(rejected_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(rejected_file.parent.stat().st_mode) == 0o700
    assert "at_most_1000_syscalls" in rejected[0]["refused"]
    assert sender.rejected == 1 and not list(spool.glob("*.jsonl"))
    assert [line for line in said if "refused window 1 of probe-test refused for good" in line]
    assert LossLedger(spool).claim(identity_key(head["data"])) == {"window_rejected": 77}


def test_an_unreachable_database_is_not_a_refusal(tmp_path):
    spool = tmp_path / "spool"
    head = recording("away", ended=True)
    spool_lines(spool / f"{head['data']['uuid']}.jsonl", head, window(head, 0))
    said = []
    sender = Sender(DatabaseDestination("postgresql://gate@127.0.0.1:9/nothing"), spool, said.append,
                    LossLedger(spool))
    sender.adopt_orphans()
    assert not sender.deliver()
    assert sender.rejected == 0 and sender.pending() == 2
    assert said and said[0].startswith("host-probe: database unavailable (")
    assert not (spool / "rejected").exists()


def test_a_window_the_server_refuses_in_a_batch_is_the_only_one_set_aside(tmp_path):
    """A batch upload is all or nothing: the one window over the server's cap (413) is set
    aside and counted, and every other window of the batch is stored once."""
    db_url = migrated(f"sqlite:///{tmp_path / 'gate.db'}")
    engine = make_engine(db_url)
    with Session(engine) as session, session.begin():
        secret = create_token(session, scope="ingest", services=["probe-test"]).secret
    engine.dispose()
    spool = tmp_path / "spool"
    now = datetime.now(timezone.utc).replace(microsecond=0)
    head = recording("batch-refused", ended=True)
    head["data"].update(started_at=(now - timedelta(minutes=1)).isoformat(), ended_at=now.isoformat())
    windows = [window(head, i, events=20 + i) for i in range(6)]
    for i, entry in enumerate(windows):
        entry["data"].update(started_at=(now - timedelta(seconds=30 - i)).isoformat(),
                             ended_at=(now - timedelta(seconds=29 - i)).isoformat())
    windows[3]["data"]["features"] = [["file", f"/tmp/f{n}:r", 1] for n in range(80)]
    spool_lines(spool / f"{head['data']['uuid']}.jsonl", head, *windows)
    with LiveServer(db_url, workers=1, env={"GATE_MAX_WINDOW_FEATURES": "50"}) as server:
        said = []
        sender = Sender(ServerDestination(server.url, secret), spool, said.append, LossLedger(spool))
        sender.adopt_orphans()
        assert sender.deliver()
        log = server.log()
    assert log.count("POST /api/v1/windows") == 1  # the batch, refused whole
    assert sorted(w.events_total for w in read_profile(db_url, "batch-refused").windows) == [20, 21, 22, 24, 25]
    (rejected,) = [json.loads(line) for line in (spool / "rejected" / f"{head['data']['uuid']}.jsonl").open()]
    assert rejected["data"]["index"] == 3 and "answered 413" in rejected["refused"]
    assert sender.rejected == 1 and not list(spool.glob("*.jsonl"))
    assert LossLedger(spool).claim(identity_key(head["data"])) == {"window_rejected": 23}


def test_a_batch_stops_at_its_byte_cap(tmp_path, monkeypatch):
    """Windows of many keys go in smaller batches: a batch ends at BATCH_BYTES of spooled
    JSON (below the server's body limit), however many windows batch_windows allows."""
    db_url = migrated(f"sqlite:///{tmp_path / 'gate.db'}")
    spool = tmp_path / "spool"
    head = recording("byte-cap", ended=True)
    windows = [window(head, i) for i in range(6)]
    spool_lines(spool / f"{head['data']['uuid']}.jsonl", head, *windows)
    monkeypatch.setattr(sender_module, "BATCH_BYTES", int(2.5 * len(json.dumps(windows[0]) + "\n")))
    destination = DatabaseDestination(db_url)
    batches = []
    store_windows = destination.store_windows
    destination.store_windows = lambda entries: (batches.append(len(entries)), store_windows(entries))[1]
    sender = Sender(destination, spool, print, LossLedger(spool), batch_windows=100)
    sender.adopt_orphans()
    assert sender.deliver()
    assert batches == [3, 3]
    assert len(read_profile(db_url, "byte-cap").windows) == 6
