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
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
STARTS = ": < /etc/hostname; exec /bin/sleep 600"  # reads a file once at its start, then serves
STARTUP_FILE = ("file", "/etc/hostname:r")


def run_tree(tree: Path, socket: str, image: str, runs: int, spacing: float) -> tuple[int, int]:
    """(recordings whose start-up was observed, recordings) for one agent of `tree`."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from gate_contract.engine import make_engine
    from gate_contract.models import Recording
    from gate_server.storage import migrate
    from gate_server.storage.profiles import load_profile

    label = f"syscall-gate-bench.{uuid.uuid4().hex[:8]}.service"
    with tempfile.TemporaryDirectory(prefix="docker-startup-") as scratch:
        work = Path(scratch)
        db_url = f"sqlite:///{work / 'gate.db'}"
        migrate.upgrade(db_url)
        status = work / "status.json"
        config = work / "agent.yml"
        config.write_text(yaml.safe_dump({"window": "1s", "startup": "2s", "status_file": str(status),
                                          "containers": {"socket": socket, "service_label": label}}))
        log = open(work / "agent.log", "w")
        agent = subprocess.Popen([sys.executable, "-m", "host_probe.commands.cli", "agent", "--config", str(config),
                                  "--db", db_url, "--spool", str(work / "spool")], cwd=tree, stderr=log,
                                 stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(tree)})
        containers = []
        try:
            deadline = time.monotonic() + 240
            while not status.exists():
                assert agent.poll() is None and time.monotonic() < deadline, (work / "agent.log").read_text()
                time.sleep(0.2)
            for index in range(runs):
                containers.append(subprocess.run(
                    ["docker", "-H", f"unix://{socket}", "run", "-d", "--network", "none", "--label",
                     f"{label}=boots", "--label", f"org.opencontainers.image.version=r{index}", image,
                     "/bin/sh", "-c", STARTS], check=True, capture_output=True, text=True).stdout.strip())
                time.sleep(spacing)
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=60)
            if containers:
                subprocess.run(["docker", "-H", f"unix://{socket}", "rm", "-f", *containers], capture_output=True)
        engine = make_engine(db_url)
        observed = recorded = 0
        with Session(engine) as session:
            for index in range(runs):
                startups = session.scalars(select(Recording.startup).where(Recording.version == f"r{index}")).all()
                if not startups:
                    continue
                recorded += 1
                first = load_profile(session, "boots", f"r{index}").windows[0]
                if startups == ["observed"] and first.startup and not first.inventory and STARTUP_FILE in first.counts:
                    observed += 1
        engine.dispose()
    return observed, recorded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench docker_startup", description=__doc__)
    parser.add_argument("--socket", default="/var/run/docker.sock", help="the Docker daemon's Engine API socket")
    parser.add_argument("--tree", action="append", type=Path,
                        help="a source tree whose agent is measured (repeatable; default: this one)")
    parser.add_argument("--runs", type=int, default=10, help="docker runs per agent")
    parser.add_argument("--rounds", type=int, default=2, help="agents per tree, interleaved")
    parser.add_argument("--spacing", type=float, default=2.0, help="seconds between two docker runs")
    parser.add_argument("--quick", action="store_true", help="3 runs, one round")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.rounds = 3, 1
    if not Path(args.socket).exists():
        print(f"no Docker Engine API socket at {args.socket}: skipped (--socket names one)")
        return 0
    sys.path.insert(0, str(REPO))
    import docker

    from tests.discovery.dockerd import ensure_busybox_image

    image = ensure_busybox_image(docker.APIClient(base_url=f"unix://{args.socket}"))
    trees = [tree.resolve() for tree in (args.tree or [REPO])]
    totals = {tree: [0, 0] for tree in trees}
    for round_number in range(args.rounds):
        for tree in trees:
            observed, recorded = run_tree(tree, args.socket, image, args.runs, args.spacing)
            totals[tree][0] += observed
            totals[tree][1] += recorded
            print(f"round {round_number + 1} {tree}: start-up observed in {observed} of {recorded} recordings "
                  f"({args.runs} docker runs)", flush=True)
    for tree, (observed, recorded) in totals.items():
        print(f"{tree}: start-up observed in {observed} of {recorded} recordings "
              f"({args.rounds * args.runs} docker runs)")
    return 0
