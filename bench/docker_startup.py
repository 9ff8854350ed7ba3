"""How many `docker run`s the agent sees start (issue 23): `python -m bench docker_startup
--socket /run/x.sock [--tree DIR ...] [--runs N]`.

For each source tree (default: this one; give another checkout, e.g. main's, to compare),
trees interleaved round by round: start `host-probe agent` from that tree with the
containers source on the daemon at --socket, `docker run -d` N labelled busybox
containers that read a file at their start and then sleep, stop the agent, and count the
recordings whose start-up was observed (the recording says so, its first window is a
start-up window without an attach inventory, and the file read at the start is keyed).
Needs root, dockerd and a static busybox (tests/discovery/dockerd.py builds the image).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.startup_runs import (add_run_options, interleaved, observed_startups, parse_run_options,
                                start_agent, stop_agent)

REPO = Path(__file__).resolve().parents[1]
STARTS = ": < /etc/hostname; exec /bin/sleep 600"  # reads a file once at its start, then serves
STARTUP_FILE = ("file", "/etc/hostname:r")


def run_tree(tree: Path, socket: str, image: str, runs: int, spacing: float) -> tuple[int, int]:
    """(recordings whose start-up was observed, recordings) for one agent of `tree`."""
    label = f"syscall-gate-bench.{uuid.uuid4().hex[:8]}.service"
    with tempfile.TemporaryDirectory(prefix="docker-startup-") as scratch:
        work = Path(scratch)
        agent, db_url = start_agent(tree, work, {"containers": {"socket": socket, "service_label": label}},
                                    env={**os.environ, "PYTHONPATH": str(tree)})
        containers = []
        try:
            for index in range(runs):
                containers.append(subprocess.run(
                    ["docker", "-H", f"unix://{socket}", "run", "-d", "--network", "none", "--label",
                     f"{label}=boots", "--label", f"org.opencontainers.image.version=r{index}", image,
                     "/bin/sh", "-c", STARTS], check=True, capture_output=True, text=True).stdout.strip())
                time.sleep(spacing)
        finally:
            stop_agent(agent)
            if containers:
                subprocess.run(["docker", "-H", f"unix://{socket}", "rm", "-f", *containers], capture_output=True)
        return observed_startups(db_url, "boots", [f"r{index}" for index in range(runs)], STARTUP_FILE)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench docker_startup", description=__doc__)
    parser.add_argument("--socket", default="/var/run/docker.sock", help="the Docker daemon's Engine API socket")
    parser.add_argument("--tree", action="append", type=Path,
                        help="a source tree whose agent is measured (repeatable; default: this one)")
    add_run_options(parser, "docker runs")
    args = parse_run_options(parser, argv)
    if not Path(args.socket).exists():
        print(f"no Docker Engine API socket at {args.socket}: skipped (--socket names one)")
        return 0
    sys.path.insert(0, str(REPO))
    import docker

    from tests.discovery.dockerd import ensure_busybox_image

    image = ensure_busybox_image(docker.APIClient(base_url=f"unix://{args.socket}"))
    trees = [tree.resolve() for tree in (args.tree or [REPO])]
    interleaved({str(tree): tree for tree in trees}, args.rounds, args.runs, "docker runs",
                lambda tree: run_tree(tree, args.socket, image, args.runs, args.spacing))
    return 0
