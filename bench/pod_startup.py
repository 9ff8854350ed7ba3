"""How many Kubernetes pod starts the agent sees start (issue 23): `python -m bench
pod_startup [--runs N] [--rounds R]`.

No cluster runs here, so each pod is started as the kubelet and containerd start one,
with real cgroups and real processes: the pod's directory in the kubelet's systemd
layout, its sandbox's directory with a process in it, then the container's directory,
its process placed there before it execs (as runc places it); the process reads a file
once at its start, then serves (sleeps). The kubelet's `/pods` (the loopback stand-in of
tests/discovery/kube_api.py) says the pod runs `--lag` seconds later, as the kubelet's
status does after its next relist. The agent polls it every `poll_interval_seconds`
(Kubernetes' default here, 5 s).

Two agents of this tree, interleaved round by round: one with the kernel's pod rules
(`pod_cgroup_parents` naming the benchmark's own QoS levels, LEVELS), one with
`pod_cgroup_parents: []` (polling only, as before). A start-up counts as observed when the recording says so, its first window is a
start-up window without an attach inventory, and the file read at the start is keyed.
Needs root and cgroup v2.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from bench.startup_runs import (add_run_options, interleaved, observed_startups, parse_run_options,
                                start_agent, stop_agent)

REPO = Path(__file__).resolve().parents[1]
NODE = "bench-node"
# reads its config once at its start, then serves
STARTS = "import sys, time\nopen(sys.argv[1]).close()\nprint('up', flush=True)\ntime.sleep(600)\n"
SANDBOX = "import time\ntime.sleep(600)\n"
# The kubelet's systemd layout under QoS levels of the benchmark's own (a kubelet here, or a
# test, keeps kubepods.slice to itself); the agent is told of them as of a kubelet's own
# --cgroup-root.
LEVELS = ["sg-bench-kubepods.slice", "sg-bench-kubepods.slice/sg-bench-kubepods-burstable.slice"]
VARIANTS = {"pod rules": LEVELS, "polling only": []}


def start_in(cgroup: Path, code: str, *args: str) -> subprocess.Popen:
    """`python -c code` placed in `cgroup` before it execs, as runc places a container's process."""
    procs = cgroup / "cgroup.procs"
    return subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.DEVNULL,
                            preexec_fn=lambda: procs.write_text(str(os.getpid())))


def run_agent(parents: list[str], runs: int, spacing: float, lag: float, root: Path) -> tuple[int, int]:
    """(recordings whose start-up was observed, recordings) for one agent and `runs` pod starts."""
    from tests.discovery.kube_api import PodListServer, container, pod, pod_list, self_signed_certificate

    work = Path(tempfile.mkdtemp(prefix="pod-startup-"))
    # kept when a start-up went unobserved (below): its agent.log, gate.db and status.json
    kubelet = PodListServer(*self_signed_certificate(work), token=uuid.uuid4().hex)
    kubelet.serve(pod_list())
    (work / "token").write_text(kubelet.token)
    kubernetes = {"node_name": NODE, "url": kubelet.url, "token_file": str(work / "token"),
                  "ca_file": str(kubelet.cert), "namespaces": {"shop": ["boots"]}}
    kubernetes["pod_cgroup_parents"] = parents
    # a name of its own, not the scratch directory's: the probe keys a random-looking
    # directory name as <tmp> (a temp name is not news), and mkdtemp's sometimes is
    startup_file = Path(tempfile.gettempdir()) / "sg-pod-startup-boots.conf"
    startup_file.write_text("x\n")
    processes: list[subprocess.Popen] = []
    directories: list[Path] = []
    timers: list[threading.Timer] = []
    agent, db_url = start_agent(REPO, work, {"kubernetes": kubernetes})
    try:
        pods: list[dict] = []
        for index in range(runs):
            pod_uid, app_id = str(uuid.uuid4()), uuid.uuid4().hex * 2
            pod_dir = root / LEVELS[1] / f"sg-bench-kubepods-burstable-pod{pod_uid.replace('-', '_')}.slice"
            sandbox_dir = pod_dir / f"cri-containerd-{uuid.uuid4().hex * 2}.scope"
            app_dir = pod_dir / f"cri-containerd-{app_id}.scope"
            for directory in (pod_dir, sandbox_dir, app_dir):
                directory.mkdir(parents=True)
                directories.append(directory)
            processes.append(start_in(sandbox_dir, SANDBOX))
            processes.append(start_in(app_dir, STARTS, str(startup_file)))
            pods.append(pod(f"boots-{index}", pod_uid, NODE, {"app.kubernetes.io/name": "boots",
                                                              "app.kubernetes.io/version": f"r{index}"},
                            [container("app", f"shop/boots:r{index}", app_id)]))
            timers.append(threading.Timer(lag, kubelet.serve, args=(pod_list(*pods),)))
            timers[-1].start()
            time.sleep(spacing)
        versions = {f"r{index}" for index in range(runs)}
        deadline = time.monotonic() + 30  # the last pods: until a poll found them
        while time.monotonic() < deadline:
            if versions <= {w["version"] for w in json.loads((work / "status.json").read_text())["workloads"]}:
                break
            time.sleep(0.5)
        time.sleep(2)
    finally:
        for timer in timers:
            timer.cancel()
        stop_agent(agent)
        kubelet.close()
        for process in processes:
            process.kill()
            process.wait()
        for directory in reversed(directories):
            remove_cgroup(directory)
        for level in reversed(LEVELS):
            remove_cgroup(root / level)
    observed, recorded = observed_startups(db_url, "boots", [f"r{index}" for index in range(runs)],
                                           ("file", f"{startup_file}:r"))
    if parents and observed < runs:
        print(f"kept {work} (agent.log, gate.db, status.json): {runs - observed} start-ups not observed")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return observed, recorded


def remove_cgroup(directory: Path) -> None:
    deadline = time.monotonic() + 5
    while directory.exists() and time.monotonic() < deadline:
        try:
            directory.rmdir()
        except OSError:  # its killed processes are still leaving
            time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench pod_startup", description=__doc__)
    add_run_options(parser, "pod starts")
    parser.add_argument("--lag", type=float, default=1.0, help="seconds until the kubelet's /pods says a pod runs")
    args = parse_run_options(parser, argv)
    if os.geteuid() != 0:
        print("pod_startup needs root (cgroups, the probe): skipped")
        return 0
    sys.path.insert(0, str(REPO))
    from host_probe.discovery.cgroups import cgroup2_mount

    root = cgroup2_mount()
    interleaved(VARIANTS, args.rounds, args.runs, "pod starts",
                lambda parents: run_agent(parents, args.runs, args.spacing, args.lag, root))
    return 0
