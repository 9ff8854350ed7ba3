"""The agent's sending sits behind the spool: with its gate server hung (SIGSTOP:
it takes connections and never answers), the agent still counts a new cgroup
within a second and drains every window on schedule; once the server answers,
every window is delivered."""

from __future__ import annotations

import os
import signal
import time
import uuid

from sqlalchemy.orm import Session

from gate_server.services.tokens import create_token
from gate_server.storage import migrate
from gate_contract.engine import make_engine
from tests.support.live_server import LiveServer


def ingest_token(database_url: str, services: list[str]) -> str:
    engine = make_engine(database_url)
    with Session(engine) as session, session.begin():
        secret = create_token(session, scope="ingest", services=services).secret
    engine.dispose()
    return secret


def test_a_hung_server_stalls_neither_discovery_nor_the_windows(make_cgroup, agent_run, opener, postgres_server,
                                                                 cgroup2_root, tmp_path):
    name = f"agent_hung_{uuid.uuid4().hex[:8]}"
    database_url = postgres_server.create_database(name)
    migrate.upgrade(database_url)
    steady = make_cgroup(f"sg-agent-steady-{uuid.uuid4().hex[:8]}")
    late = cgroup2_root / f"sg-agent-late-{uuid.uuid4().hex[:8]}"
    opener(tmp_path / "steady.txt", steady)
    try:
        with LiveServer(database_url, workers=2) as server:
            run = agent_run({"workloads": [{"service": "steady", "version": "v1", "cgroup": str(steady)},
                                           {"service": "late", "version": "v1", "cgroup": str(late)}]})
            run.start(["--server", server.url],
                      env={**os.environ, "GATE_INGEST_TOKEN": ingest_token(database_url, ["steady", "late"])})
            run.wait_for(lambda s: run.services(s).get("steady", {}).get("windows", 0) >= 2)
            os.killpg(server.process.pid, signal.SIGSTOP)
            try:
                before = run.services(run.status())["steady"]["windows"]
                appeared = time.monotonic()
                opener(tmp_path / "late.txt", make_cgroup(late.name))
                run.wait_for(lambda s: "late" in run.services(s), timeout=5)
                appear_s = time.monotonic() - appeared
                status = run.wait_for(lambda s: run.services(s)["steady"]["windows"] >= before + 4, timeout=8)
                assert status["spool_depth"] >= 4 and status["spool_corrupt_lines"] == 0
            finally:
                os.killpg(server.process.pid, signal.SIGCONT)
            assert appear_s <= 1.0
            run.wait_for(lambda s: s["spool_depth"] == 0, timeout=60)
            run.stop()
        for service in ("steady", "late"):
            assert f"{tmp_path}/{service}.txt:r" in {key for (kind, key) in run.features(service, "v1", database_url)
                                                     if kind == "file"}
    finally:
        postgres_server.drop_database(name)
