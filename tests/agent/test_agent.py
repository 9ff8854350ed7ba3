"""`host-probe agent` against the real kernel: several workloads from several
sources at once, each counted under its own identity and nothing else."""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest
import requests

from tests.discovery.kube_api import container, pod, pod_list
from tests.support.ports import free_port

NODE = "node-a"
CLAIMS = {"SYSCALL_GATE_SERVICE": "payments", "SYSCALL_GATE_VERSION": "v999", "SYSCALL_GATE_ROLE": "baseline",
          "PATH": "/usr/bin:/bin"}


def file_keys(features) -> set[str]:
    return {key for (kind, key) in features if kind == "file"}


def test_one_agent_records_static_container_and_pod_workloads_each_under_its_own_identity(
        make_cgroup, agent_run, opener, run_container, docker_daemon, kubelet, tmp_path):
    # static: a cgroup the config names
    static_cgroup = make_cgroup(f"sg-agent-static-{uuid.uuid4().hex[:8]}")
    opener(tmp_path / "static.txt", static_cgroup)
    # kubernetes: a pod's container cgroup in the kubelet's layout, its process claiming another identity
    pod_uid, container_id = str(uuid.uuid4()), uuid.uuid4().hex + uuid.uuid4().hex
    pod_cgroup = make_cgroup(f"kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
                             f"{pod_uid.replace('-', '_')}.slice/cri-containerd-{container_id}.scope")
    opener(tmp_path / "pod.txt", pod_cgroup, env=CLAIMS)
    kubelet.serve(pod_list(pod("checkout-7d9", pod_uid, NODE,
                               {"app.kubernetes.io/name": "checkout", "app.kubernetes.io/version": "v41",
                                "syscall-gate.io/role": "canary"},
                               [container("app", "shop/checkout:v41", container_id)])))
    token = tmp_path / "token"
    token.write_text(kubelet.token)
    # docker: a labelled container whose environment claims to be another service
    run_container(labels={"syscall-gate.service": "inventory", "syscall-gate.role": "canary",
                          "org.opencontainers.image.version": "v7"}, environment=CLAIMS,
                  command=["/bin/sh", "-c", "while true; do read line < /etc/hostname; sleep 0.2; done"])
    # and a process in no workload at all
    opener(tmp_path / "outside.txt")

    run = agent_run({
        "workloads": [{"service": "static-svc", "version": "v1", "cgroup": str(static_cgroup)}],
        "containers": {"socket": docker_daemon.socket},
        "kubernetes": {"node_name": NODE, "url": kubelet.url, "token_file": str(token),
                       "ca_file": str(kubelet.cert), "namespaces": {"shop": ["checkout"]}},
    }).start()
    status = run.wait_for(lambda s: {"static-svc", "inventory", "checkout"} <= set(run.services(s))
                          and all(w["windows"] >= 2 for w in s["workloads"]))
    assert len({w["slot"] for w in status["workloads"]}) == len(status["workloads"])
    assert status["sources"] == {"static": "ok", "docker": "ok", "kubernetes": "ok"}
    run.stop()

    static = run.features("static-svc", "v1")
    checkout = run.features("checkout", "v41")
    inventory = run.features("inventory", "v7")
    assert f"{tmp_path}/static.txt:r" in file_keys(static)
    assert f"{tmp_path}/pod.txt:r" in file_keys(checkout)
    # the container's shell reads its hostname and runs busybox's sleep (exec /proc/self/exe)
    assert "/etc/hostname:r" in file_keys(inventory) and ("process", "exec") in inventory
    for features in (static, checkout, inventory):
        assert f"{tmp_path}/outside.txt:r" not in file_keys(features)
    assert f"{tmp_path}/pod.txt:r" not in file_keys(static) and f"{tmp_path}/static.txt:r" not in file_keys(checkout)
    recorded = run.recordings()
    assert ("checkout", "v41", "canary") in recorded and ("inventory", "v7", "canary") in recorded
    assert not [r for r in recorded if r[0] == "payments" or r[1] == "v999"], recorded


def test_a_new_version_starts_a_new_recording_and_a_reload_never_reloads_the_programs(
        make_cgroup, agent_run, opener, tmp_path):
    cgroup = make_cgroup(f"sg-agent-version-{uuid.uuid4().hex[:8]}")
    opener(tmp_path / "web.txt", cgroup)
    version_file = tmp_path / "VERSION"
    version_file.write_text("v41\n")
    config = {"workloads": [{"service": "web", "version_file": str(version_file), "cgroup": str(cgroup)}]}
    run = agent_run(config).start()
    run.wait_for(lambda s: run.services(s).get("web", {}).get("windows", 0) >= 1)
    programs = run.program_ids()
    assert programs

    version_file.write_text("v42\n")  # deploy tooling rewrote it; no restart
    run.wait_for(lambda s: run.services(s).get("web", {}).get("version") == "v42")

    late = make_cgroup(f"sg-agent-late-{uuid.uuid4().hex[:8]}")
    opener(tmp_path / "late.txt", late)
    config["workloads"].append({"service": "late", "version": "v1", "cgroup": str(late)})
    run.write_config(config)
    os.kill(run.process.pid, signal.SIGHUP)
    run.wait_for(lambda s: run.services(s).get("late", {}).get("windows", 0) >= 1)
    run.wait_for_file("late", "v1", tmp_path / "late.txt")
    assert run.program_ids() == programs  # the same programs: nothing recompiled or reattached
    log = run.stop()

    assert "reloaded" in log
    assert {("web", "v41", "baseline"), ("web", "v42", "baseline"), ("late", "v1", "baseline")} <= set(
        run.recordings())
    assert f"{tmp_path}/web.txt:r" in file_keys(run.features("web", "v41"))
    assert f"{tmp_path}/web.txt:r" in file_keys(run.features("web", "v42"))
    assert f"{tmp_path}/late.txt:r" in file_keys(run.features("late", "v1"))


def test_a_workload_past_max_workloads_is_refused_with_a_log_line(make_cgroup, agent_run, opener, tmp_path):
    first, second = (make_cgroup(f"sg-agent-max-{n}-{uuid.uuid4().hex[:8]}") for n in (1, 2))
    opener(tmp_path / "one.txt", first)
    metrics_port = free_port()
    run = agent_run({"max_workloads": 1, "metrics_address": f"127.0.0.1:{metrics_port}", "workloads": [
        {"service": "one", "version": "v1", "cgroup": str(first)},
        {"service": "two", "version": "v1", "cgroup": str(second)},
    ]}).start()
    status = run.wait_for(lambda s: s["refused"] and s["workloads"][0]["windows"] >= 1)
    metrics = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    log = run.stop()
    assert [w["service"] for w in status["workloads"]] == ["one"]
    assert status["refused"] == ["static:two"]
    assert "not watching static:two" in log and "max_workloads" in log
    # the agent's own Prometheus metrics say the same
    assert "syscall_gate_agent_workloads 1.0" in metrics
    assert "syscall_gate_agent_refused_workloads_total 1.0" in metrics
    assert 'syscall_gate_agent_windows_total{role="baseline",service="one"}' in metrics


def test_a_noisy_workload_overflows_its_own_budget_not_the_others(make_cgroup, agent_run, opener, tmp_path):
    noisy, quiet = (make_cgroup(f"sg-agent-{name}-{uuid.uuid4().hex[:8]}") for name in ("noisy", "quiet"))
    flood = tmp_path / "flood"
    flood.mkdir()
    for n in range(400):
        (flood / f"f{n}").write_text("x")
    opener(tmp_path / "quiet.txt", quiet)
    run = agent_run({"detail_keys_per_workload": 64, "workloads": [
        {"service": "noisy", "version": "v1", "cgroup": str(noisy)},
        {"service": "quiet", "version": "v1", "cgroup": str(quiet)},
    ]}).start()
    run.wait_for(lambda s: len(s["workloads"]) == 2)
    import subprocess
    import sys
    flooder = subprocess.Popen([sys.executable, "-c", "import os, sys, time\n"
                                "while True:\n"
                                "    for name in os.listdir(sys.argv[1]):\n"
                                "        open(os.path.join(sys.argv[1], name)).close()\n"
                                "    time.sleep(0.05)\n", str(flood)])
    try:
        (noisy / "cgroup.procs").write_text(str(flooder.pid))
        # map_full, not any loss: a freshly started flooder's first paths can be `unreadable`
        status = run.wait_for(lambda s: run.services(s)["noisy"]["lost"].get("map_full", 0) > 0
                              and run.services(s)["quiet"]["windows"] >= 3, timeout=60)
    finally:
        flooder.kill()
        flooder.wait()
    run.stop()
    assert run.services(status)["noisy"]["lost"]["map_full"] > 0
    assert sum(run.services(status)["quiet"]["lost"].values()) == 0
    assert f"{tmp_path}/quiet.txt:r" in file_keys(run.features("quiet", "v1"))
    noisy_files = file_keys(run.features("noisy", "v1"))
    assert 0 < len([k for k in noisy_files if "/flood/" in k]) < 400


def test_a_cgroup_that_appears_is_counted_within_a_second_without_a_reload(make_cgroup, agent_run, opener,
                                                                          cgroup2_root, tmp_path):
    name = f"sg-agent-appears-{uuid.uuid4().hex[:8]}"
    run = agent_run({"workloads": [{"service": "appears", "version": "v1", "cgroup": str(cgroup2_root / name)}]})
    run.start()
    programs = run.program_ids()
    cgroup = make_cgroup(name)
    appeared = time.monotonic()
    opener(tmp_path / "appears.txt", cgroup)
    run.wait_for(lambda s: "appears" in run.services(s), timeout=5)
    assert time.monotonic() - appeared <= 1.0
    run.wait_for(lambda s: run.services(s)["appears"]["windows"] >= 1)
    assert run.program_ids() == programs
    run.stop()
    assert f"{tmp_path}/appears.txt:r" in file_keys(run.features("appears", "v1"))


def test_one_ingest_token_covers_the_services_of_the_agent_and_no_other(make_cgroup, agent_run, opener,
                                                                      upload_database, tmp_path):
    # the agent uploads to the real gate server (gunicorn on Postgres) with one ingest token
    # naming the host's two services; a third workload's service is not the token's to write
    from tests.support.live_server import LiveServer

    database_url, secret = upload_database(["web", "worker"])
    cgroups = {service: make_cgroup(f"sg-agent-up-{service}-{uuid.uuid4().hex[:8]}")
               for service in ("web", "worker", "payments")}
    for service, cgroup in cgroups.items():
        opener(tmp_path / f"{service}.txt", cgroup)
    with LiveServer(database_url, workers=2) as server:
        run = agent_run({"workloads": [{"service": service, "version": "v1", "cgroup": str(cgroup)}
                                       for service, cgroup in cgroups.items()]})
        run.start(["--server", server.url], env={**os.environ, "GATE_INGEST_TOKEN": secret})
        status = run.wait_for(lambda s: len(s["workloads"]) == 2 and s["refused"]
                              and all(w["windows"] >= 2 for w in s["workloads"]))
        log = run.stop()
    assert status["refused"] == ["static:payments"]
    assert "not watching static:payments" in log and "403" in log
    assert sorted(r[0] for r in run.recordings(database_url)) == ["web", "worker"]
    for service in ("web", "worker"):
        assert f"{tmp_path}/{service}.txt:r" in file_keys(run.features(service, "v1", database_url))


def test_a_crash_in_native_code_leaves_the_python_stack_of_every_thread_in_the_log(make_cgroup, agent_run,
                                                                                 opener, tmp_path):
    # bcc, libbpf and C extensions run in the agent's process: a crash there must say
    # where it happened (Python's faulthandler), not leave an exit status alone
    cgroup = make_cgroup(f"sg-agent-crash-{uuid.uuid4().hex[:8]}")
    opener(tmp_path / "crash.txt", cgroup)
    # windows of 4 s, and the crash sent once the first is delivered: faulthandler reads the
    # other threads' frames while they run (its documentation calls that unsafe), and a
    # thread busy writing a window can cut the dump short; an idle agent's dump is whole
    run = agent_run({"window": "4s",
                     "workloads": [{"service": "crash", "version": "v1", "cgroup": str(cgroup)}]}).start()
    run.wait_for(lambda s: s["workloads"] and s["workloads"][0]["windows"] >= 1 and s["spool_depth"] == 0,
                 timeout=60)
    run.process.send_signal(signal.SIGSEGV)
    assert run.process.wait(timeout=60) == -signal.SIGSEGV
    log = run.log()
    assert "Fatal Python error: Segmentation fault" in log
    # the loop's stack and the sender thread's both
    assert log.count("Thread 0x") + log.count("Current thread 0x") >= 2, log
    assert "host_probe/recording/agent.py" in log and "host_probe/delivery/sender.py" in log, log
