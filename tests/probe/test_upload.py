"""`host-probe record --server`: windows uploaded to the real gate server (gunicorn
on Postgres) with an ingest token instead of database credentials; a server
outage mid-recording loses no window; a token that may not upload stops the
probe before it records, with one clear line."""

from __future__ import annotations

import os
import re
import time
import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy.orm import Session

from gate_server.services.tokens import create_token
from gate_contract.engine import make_engine
from tests.probe.conftest import host_probe, migrated, read_profile, record_through_outage, start_probe, totals
from tests.support.live_server import LiveServer

LOOP = "for i in $(seq {n}); do cat /etc/hostname >/dev/null; sleep 0.2; done"


def token(database_url: str, scope: str, service: str = "probe-test") -> str:
    engine = make_engine(database_url)
    with Session(engine) as session, session.begin():
        secret = create_token(session, scope=scope, services=[service]).secret
    engine.dispose()
    return secret


@pytest.fixture
def uploads(ebpf, postgres_server):
    name = f"uploads_{uuid.uuid4().hex[:8]}"
    database_url = migrated(postgres_server.create_database(name))
    with LiveServer(database_url, workers=2) as server:
        yield server, database_url
    postgres_server.drop_database(name)


def upload_args(server: LiveServer, spool, version: str, *command: str) -> list[str]:
    return ["record", "--service", "probe-test", "--version", version, "--window", "1s",
            "--server", server.url, "--spool", str(spool), "--", *command]


def with_token(secret: str) -> dict[str, str]:
    return {**os.environ, "GATE_INGEST_TOKEN": secret}


def test_windows_are_uploaded_with_an_ingest_token(uploads, tmp_path):
    server, database_url = uploads
    result = host_probe(*upload_args(server, tmp_path / "spool", "up-1", "sh", "-c", LOOP.format(n=10)),
                        env=with_token(token(database_url, "ingest")))
    assert result.returncode == 0, result.stderr
    profile = read_profile(database_url, "up-1")
    assert len(profile.windows) >= 2
    assert totals(profile)[("file", "/etc/hostname:r")] >= 10
    assert totals(profile)[("exec", "/usr/bin/cat")] + totals(profile)[("exec", "/bin/cat")] >= 10
    assert not list((tmp_path / "spool").glob("*.jsonl"))


def test_a_server_outage_loses_no_window(uploads, tmp_path):
    server, database_url = uploads
    spool = tmp_path / "spool"
    log = record_through_outage(upload_args(server, spool, "up-outage", "sh", "-c", LOOP.format(n=60)),
                                stop=server.halt, restart=server.start,
                                env=with_token(token(database_url, "ingest")))
    assert "gate server unreachable" in log and "spooling windows" in log
    assert "is back; replayed" in log
    profile = read_profile(database_url, "up-outage")
    starts = [w.started_at for w in profile.windows]
    assert len(starts) >= 6 and len(set(starts)) == len(starts)  # 7 s in 1 s windows: none missing or doubled
    assert not list(spool.glob("*.jsonl"))
    assert totals(profile)[("file", "/etc/hostname:r")] >= 20


@pytest.mark.parametrize("scope, service, words", [
    ("check", "probe-test", "scope 'check' may not call this endpoint"),
    ("ingest", "billing", "not allowed to upload recordings of service 'probe-test'"),
])
def test_a_token_that_may_not_upload_stops_the_probe_before_it_records(uploads, tmp_path, scope, service, words):
    server, database_url = uploads
    result = host_probe(*upload_args(server, tmp_path / "spool", "up-refused", "true"),
                        env=with_token(token(database_url, scope, service)))
    assert result.returncode == 2
    assert result.stderr.startswith("host-probe: error: the recording was refused: gate server answered 403")
    assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert read_profile(database_url, "up-refused").windows == []
    assert not list((tmp_path / "spool").glob("*.jsonl"))


def test_uploading_without_a_token_says_where_it_goes(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "GATE_INGEST_TOKEN"}
    result = host_probe("record", "--service", "web", "--version", "v1", "--server", "http://127.0.0.1:9",
                        "--", "true", env=env)
    assert result.returncode == 2
    assert "needs an ingest token in GATE_INGEST_TOKEN" in result.stderr


def test_windows_recorded_while_the_server_is_away_are_replayed_later(uploads, tmp_path):
    server, database_url = uploads
    spool = tmp_path / "spool"
    env = with_token(token(database_url, "ingest"))
    server.halt()
    try:
        recorded = host_probe(*upload_args(server, spool, "up-later", "sh", "-c", LOOP.format(n=5)), env=env)
    finally:
        server.start()
    assert recorded.returncode == 0, recorded.stderr
    assert "keeps them: the next start on this spool, or `host-probe replay`, sends them" in recorded.stderr
    assert read_profile(database_url, "up-later").windows == []
    replayed = host_probe("replay", "--server", server.url, "--spool", str(spool), env=env)
    assert replayed.returncode == 0, replayed.stderr
    assert "replayed 1 spool files" in replayed.stdout
    assert totals(read_profile(database_url, "up-later"))[("file", "/etc/hostname:r")] >= 5
    assert not list(spool.glob("*.jsonl"))


def window_requests(server_log: str) -> int:
    """Requests that carried windows, from the server's access log: one PUT per window, or a batch."""
    return len(re.findall(r'"(?:PUT /api/v1/recordings/\S+/windows/\d+|POST /api/v1/windows) HTTP', server_log))


def test_a_spool_an_outage_filled_drains_in_few_requests(uploads, tmp_path):
    server, database_url = uploads
    spool, trigger = tmp_path / "spool", tmp_path / "stop"
    loop = f"while [ ! -e {trigger} ]; do cat /etc/hostname >/dev/null; sleep 0.05; done"
    server.halt()
    args = upload_args(server, spool, "up-drain", "sh", "-c", loop)
    args[args.index("--window") + 1] = "0.1s"  # 100 windows in about 10 s of outage
    probe = start_probe(args, env=with_token(token(database_url, "ingest")))
    try:
        deadline = time.monotonic() + 60
        while spooled_windows(spool) < 100:
            assert time.monotonic() < deadline and probe.poll() is None, "100 windows were not spooled in 60 s"
            time.sleep(0.2)
        before = len(server.log())
        server.start()
        restarted = datetime.now(timezone.utc)
        deadline = time.monotonic() + 60
        while len(read_profile(database_url, "up-drain").windows) < 100:
            assert time.monotonic() < deadline, "the spool was not drained in 60 s"
            time.sleep(0.2)
        trigger.touch()
        log = probe.communicate(timeout=60)[1]
        assert probe.returncode == 0, log
    finally:
        if probe.poll() is None:
            probe.kill()
    assert "is back; replayed" in log
    windows = read_profile(database_url, "up-drain").windows
    # the 100 and more windows spooled in the outage went in a few requests (at most 100 windows
    # each), not one each; windows recorded once the server was back may go one by one
    after = sum(w.started_at >= restarted for w in windows)
    assert window_requests(server.log()[before:]) <= 3 + after < len(windows) / 2
    assert len({w.started_at for w in windows}) == len(windows) >= 100  # none doubled
    ends = sorted((w.started_at, w.ended_at) for w in windows)
    assert all(end == start for (_, end), (start, _) in zip(ends, ends[1:]))  # none missing
    assert not list(spool.glob("*.jsonl"))


def spooled_windows(spool) -> int:
    return sum(line.startswith(b'{"type": "window"') for path in spool.glob("*.jsonl")
               for line in path.read_bytes().splitlines())
