"""`host-probe record --server` with an ingest token scoped by role: a canary host's
token uploads the canary recording, and stops a baseline recording before it records,
with one clear line (the real probe, the real server on Postgres)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from gate_server.services.tokens import create_token
from gate_contract.engine import make_engine
from gate_contract.models import Recording
from tests.probe.conftest import host_probe, read_profile, totals
from tests.probe.test_upload import LOOP, upload_args, uploads, with_token  # noqa: F401 (uploads: a fixture)


def canary_token(database_url: str) -> str:
    engine = make_engine(database_url)
    with Session(engine) as session, session.begin():
        secret = create_token(session, scope="ingest", services=["probe-test"], role="canary", version_pattern="*").secret
    engine.dispose()
    return secret


def test_a_canary_token_uploads_the_canary_recording(uploads, tmp_path):
    server, database_url = uploads
    args = upload_args(server, tmp_path / "spool", "up-canary", "sh", "-c", LOOP.format(n=10))
    result = host_probe(*args[:1], "--role", "canary", *args[1:], env=with_token(canary_token(database_url)))
    assert result.returncode == 0, result.stderr
    assert totals(read_profile(database_url, "up-canary"))[("file", "/etc/hostname:r")] >= 10
    engine = make_engine(database_url)
    with Session(engine) as session:
        assert session.execute(select(Recording.role).where(Recording.version == "up-canary")).scalar_one() == "canary"
    engine.dispose()
    assert not list((tmp_path / "spool").glob("*.jsonl"))


def test_a_canary_token_stops_a_baseline_recording_before_it_records(uploads, tmp_path):
    server, database_url = uploads
    result = host_probe(*upload_args(server, tmp_path / "spool", "up-baseline", "true"),
                        env=with_token(canary_token(database_url)))
    assert result.returncode == 2
    assert result.stderr.startswith("host-probe: error: the recording was refused: gate server answered 403")
    assert "this token uploads canary recordings only (made with --role canary), not baseline ones" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert read_profile(database_url, "up-baseline").windows == []
    assert not list((tmp_path / "spool").glob("*.jsonl"))
