"""One agent, one ingest token limited to the canary role: the host's canary workload is
recorded and uploaded, its baseline workload is refused (listed as such) and writes nothing."""

from __future__ import annotations

import os
import uuid

from tests.agent.test_agent import file_keys
from tests.support.live_server import LiveServer


def test_a_canary_token_uploads_the_canary_workload_and_refuses_the_baseline_one(make_cgroup, agent_run, opener,
                                                                               upload_database, tmp_path):
    database_url, secret = upload_database(["web", "worker"], role="canary")
    roles = {"web": "canary", "worker": "baseline"}
    cgroups = {service: make_cgroup(f"sg-agent-role-{service}-{uuid.uuid4().hex[:8]}") for service in roles}
    for service, cgroup in cgroups.items():
        opener(tmp_path / f"{service}.txt", cgroup)
    with LiveServer(database_url, workers=2) as server:
        run = agent_run({"workloads": [{"service": service, "version": "v1", "role": role,
                                        "cgroup": str(cgroups[service])} for service, role in roles.items()]})
        run.start(["--server", server.url], env={**os.environ, "GATE_INGEST_TOKEN": secret})
        status = run.wait_for(lambda s: s["refused"] and any(w["windows"] >= 2 for w in s["workloads"]))
        log = run.stop()
    assert status["refused"] == ["static:worker"]
    assert "this token uploads canary recordings only" in log
    assert run.recordings(database_url) == [("web", "v1", "canary")]
    assert f"{tmp_path}/web.txt:r" in file_keys(run.features("web", "v1", database_url))
