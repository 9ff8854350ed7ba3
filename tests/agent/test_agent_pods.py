"""Issue 23, a Kubernetes pod's start observed rather than polled: the kubelet names a
container only once it runs, and the agent asks it every few seconds, so a container
found by polling had its start-up unobserved. The kernel registers each pod directory
made under the kubelet's QoS levels, and gives each container directory made in a pod
a slot as it is made; the agent hands it to the container's workload once the pod
list names it, or takes it back. Real cgroups in the kubelet's systemd layout, real
processes placed in them as a runtime places them, the real agent; the kubelet's
/pods is the loopback stand-in (no cluster runs here)."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from gate_contract.engine import make_engine
from gate_contract.models import Recording
from tests.agent.conftest import REPO
from tests.agent.test_agent_new_workloads import STARTS, serving, the_recording
from tests.discovery.kube_api import container, now_rfc3339, pod, pod_list

NODE = "node-a"
LABELS = {"app.kubernetes.io/name": "checkout", "app.kubernetes.io/version": "v42",
          "syscall-gate.io/role": "canary"}


def pod_directory(pod_uid: str) -> str:
    return (f"kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
            f"{pod_uid.replace('-', '_')}.slice")


def container_id() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex


def kubernetes_config(kubelet, tmp_path, namespaces=None) -> dict:
    token = tmp_path / "token"
    token.write_text(kubelet.token)
    # A long poll: a container the pod list names is found seconds after its start.
    return {"kubernetes": {"node_name": NODE, "url": kubelet.url, "token_file": str(token),
                           "ca_file": str(kubelet.cert), "namespaces": namespaces or {"shop": ["checkout"]},
                           "poll_interval_seconds": 3},
            "startup": "2s"}


def test_a_pod_started_after_the_agent_is_observed_from_its_first_process(make_cgroup, agent_run, opener, kubelet,
                                                                         tmp_path):
    kubelet.serve(pod_list())
    run = agent_run(kubernetes_config(kubelet, tmp_path))
    run.start()
    # The kubelet makes the pod's directory, the runtime its sandbox's, then the container's,
    # placing each process before it execs; the pod list says it runs a poll later.
    pod_uid, sandbox_id, app_id = str(uuid.uuid4()), container_id(), container_id()
    pod_dir = pod_directory(pod_uid)
    opener(tmp_path / "sandbox.txt", make_cgroup(f"{pod_dir}/cri-containerd-{sandbox_id}.scope"))
    config_file = tmp_path / "checkout.conf"
    config_file.write_text("x\n")
    with serving(make_cgroup(f"{pod_dir}/cri-containerd-{app_id}.scope"), STARTS, str(config_file)):
        run.wait_for(lambda s: s["unclaimed_containers"] == 2, timeout=30)  # the sandbox and the container
        time.sleep(1)  # the API's times are whole seconds
        kubelet.serve(pod_list(pod("checkout-5f6", pod_uid, NODE, LABELS,
                                   [container("app", "shop/checkout:v42", app_id, started_at=now_rfc3339())])))
        # (minutes under the VM tier's emulation, where python starts in seconds)
        run.wait_for(lambda s: run.services(s).get("checkout", {}).get("windows", 0) >= 3, timeout=120)
        # the sandbox is in no workload: once the pod list says every container of the pod
        # runs, what else was made in it gives its slot back
        run.wait_for(lambda s: s["unclaimed_containers"] == 0, timeout=30)
        run.stop()
    startup, windows = the_recording(run, "checkout", "v42")
    assert startup == "observed", run.log()
    started = [w for w in windows if w.syscalls_total]
    assert started and started[0].startup, [(w.startup, w.syscalls_total) for w in windows]
    assert ("process", "exec") in started[0].counts  # its exec, in its new cgroup
    assert ("file", f"{config_file}:r") in started[0].counts
    files = {key for window in windows for kind, key in window.counts if kind == "file"}
    assert f"{tmp_path}/sandbox.txt:r" not in files  # the sandbox's counts are not the container's


def test_a_container_restarted_in_a_running_pod_is_observed_from_its_first_process(make_cgroup, agent_run, opener,
                                                                                  kubelet, tmp_path):
    pod_uid, first_id, second_id = str(uuid.uuid4()), container_id(), container_id()
    pod_dir = pod_directory(pod_uid)
    first = opener(tmp_path / "first.txt", make_cgroup(f"{pod_dir}/cri-containerd-{first_id}.scope"))
    kubelet.serve(pod_list(pod("checkout-5f6", pod_uid, NODE, LABELS, [container("app", "shop/checkout:v42",
                                                                                 first_id)])))
    run = agent_run(kubernetes_config(kubelet, tmp_path))
    run.start()
    run.wait_for(lambda s: run.services(s).get("checkout", {}).get("windows", 0) >= 1, timeout=30)
    # The container exits and the kubelet starts it again: a new container, a new directory,
    # while the pod list still shows the first one running for a poll or two (its status lags).
    first.kill()
    first.wait()
    config_file = tmp_path / "checkout.conf"
    config_file.write_text("x\n")
    with serving(make_cgroup(f"{pod_dir}/cri-containerd-{second_id}.scope"), STARTS, str(config_file)):
        kubelet.serve(pod_list(pod("checkout-5f6", pod_uid, NODE, LABELS,
                                   [container("app", "shop/checkout:v42", second_id, started_at=now_rfc3339())])))
        run.wait_for(lambda s: any(w["service"] == "checkout" and w["scope"].endswith(f"{second_id}.scope")
                                   and w["windows"] >= 3 for w in s["workloads"]), timeout=30)
        run.stop()
    recordings = run.recordings()
    assert recordings.count(("checkout", "v42", "canary")) == 2, recordings
    engine = make_engine(run.db_url)
    try:
        with Session(engine) as session:
            starts = dict(session.execute(select(Recording.scope, Recording.startup)).all())
    finally:
        engine.dispose()
    (restarted,) = [start for scope, start in starts.items() if scope.endswith(f"{second_id}.scope")]
    assert restarted == "observed", (starts, run.log())


def test_a_pod_not_watched_gives_its_containers_slots_back_once_the_pod_list_names_it(make_cgroup, agent_run, opener,
                                                                                      kubelet, tmp_path):
    kubelet.serve(pod_list())
    # as many slots as spare ones: none free to top the spares up again between two polls
    run = agent_run({**kubernetes_config(kubelet, tmp_path), "max_workloads": 8})
    run.start()
    spares = run.wait_for(lambda s: s["spare_slots"] > 0)["spare_slots"]
    assert spares == 8
    # More containers made in one pod between two polls than there are spare slots: the
    # one past them is left to polling, and said so.
    pod_uid, app_id = str(uuid.uuid4()), container_id()
    opener(tmp_path / "other.txt", make_cgroup(f"{pod_directory(pod_uid)}/cri-containerd-{app_id}.scope"))
    for _ in range(spares):
        make_cgroup(f"{pod_directory(pod_uid)}/cri-containerd-{container_id()}.scope")
    status = run.wait_for(lambda s: s["unclaimed_containers"] == spares, timeout=10)
    assert status["containers_made_without_a_spare_slot"] == 1, status
    shown = subprocess.run([sys.executable, "-m", "host_probe.commands.cli", "status", "--status-file",
                            str(run.status_file)], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert f"{spares} containers made and not named yet" in shown, shown
    # another team's pod: its namespace is not one the agent watches
    kubelet.serve(pod_list(pod("ledger-1b2", pod_uid, NODE, {"app.kubernetes.io/name": "ledger"},
                               [container("app", "fin/ledger:v3", app_id)], namespace="finance")))
    status = run.wait_for(lambda s: s["unclaimed_containers"] == 0, timeout=15)
    assert status["spare_slots"] == spares and not status["workloads"], status
    run.stop()
    assert not run.recordings()


def test_a_reload_without_the_kubernetes_source_takes_the_spare_slots_back(agent_run, kubelet, tmp_path):
    kubelet.serve(pod_list())
    config = kubernetes_config(kubelet, tmp_path)
    run = agent_run(config)
    run.start()
    run.wait_for(lambda s: s["spare_slots"] > 0)
    run.write_config({key: value for key, value in config.items() if key != "kubernetes"})
    # the spare slots come back to the table, and the agent goes on (it once spun here forever)
    run.wait_for(lambda s: s["spare_slots"] == 0 and s["pod_cgroups"] == 0, timeout=15)
    assert "0 discovery sources" in run.stop()
