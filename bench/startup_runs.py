"""What the start-up benchmarks (docker_startup, pod_startup) share: one `host-probe
agent` run on a scratch SQLite database, and the count of recordings whose start-up it
observed."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

AGENT_START_S = 240  # bcc compiles as the agent starts


def start_agent(tree: Path, work: Path, config: dict, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """`host-probe agent` of `tree` with `config` (windows of 1 s, a 2 s start-up, a status
    file in `work`), writing to a database in `work`; returns once it runs: (agent, db url)."""
    from gate_server.storage import migrate

    db_url = f"sqlite:///{work / 'gate.db'}"
    migrate.upgrade(db_url)
    status = work / "status.json"
    (work / "agent.yml").write_text(yaml.safe_dump({"window": "1s", "startup": "2s", "status_file": str(status),
                                                    **config}))
    agent = subprocess.Popen([sys.executable, "-m", "host_probe.commands.cli", "agent", "--config",
                              str(work / "agent.yml"), "--db", db_url, "--spool", str(work / "spool")], cwd=tree,
                             stderr=open(work / "agent.log", "w"), stdout=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + AGENT_START_S
    while not status.exists():
        assert agent.poll() is None and time.monotonic() < deadline, (work / "agent.log").read_text()
        time.sleep(0.2)
    return agent, db_url


def stop_agent(agent: subprocess.Popen) -> None:
    agent.send_signal(signal.SIGTERM)
    agent.wait(timeout=60)


def observed_startups(db_url: str, service: str, versions: list[str], startup_key: tuple[str, str]) -> tuple[int, int]:
    """(recordings whose start-up was observed, recordings) of `service` at each version: observed
    when the recording says so, its first window is a start-up window without an attach
    inventory, and `startup_key` (what the workload did at its start) is in it."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from gate_contract.engine import make_engine
    from gate_contract.models import Recording
    from gate_server.storage.profiles import load_profile

    engine = make_engine(db_url)
    observed = recorded = 0
    try:
        with Session(engine) as session:
            for version in versions:
                startups = session.scalars(select(Recording.startup).where(Recording.version == version)).all()
                if not startups:
                    continue
                recorded += 1
                first = load_profile(session, service, version).windows[0]
                if startups == ["observed"] and first.startup and not first.inventory and startup_key in first.counts:
                    observed += 1
    finally:
        engine.dispose()
    return observed, recorded


def interleaved(variants: dict, rounds: int, runs: int, what: str, measure) -> None:
    """`measure(variant)` -> (observed, recorded) for each variant, round by round (this
    machine is noisy: variants side by side), printed per round and in total."""
    totals = {name: [0, 0] for name in variants}
    for round_number in range(rounds):
        for name, variant in variants.items():
            observed, recorded = measure(variant)
            totals[name][0] += observed
            totals[name][1] += recorded
            print(f"round {round_number + 1} {name}: start-up observed in {observed} of {recorded} recordings "
                  f"({runs} {what})", flush=True)
    for name, (observed, recorded) in totals.items():
        print(f"{name}: start-up observed in {observed} of {recorded} recordings ({rounds * runs} {what})")


def add_run_options(parser, what: str) -> None:
    """--runs, --rounds, --spacing and --quick, as both start-up benchmarks take them."""
    parser.add_argument("--runs", type=int, default=10, help=f"{what} per agent")
    parser.add_argument("--rounds", type=int, default=2, help="agents per variant, interleaved")
    parser.add_argument("--spacing", type=float, default=2.0, help=f"seconds between two {what}")
    parser.add_argument("--quick", action="store_true", help="3 runs, one round")


def parse_run_options(parser, argv):
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.rounds = 3, 1
    return args
