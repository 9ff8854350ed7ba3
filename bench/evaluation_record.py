"""Record the evaluation set with the real probe (root + eBPF): `python -m bench
evaluation --record`.

For each workload: two baseline runs at full traffic, a benign re-run canary at
20 % of the traffic (the 5 %/95 % split of a canary stage), and one canary per
injected change at the same 20 %. Every recording is a fresh process tree
recorded by `host-probe record --pid` into its own SQLite database, exported with
gate_server.storage.profiles.load_profile, and stored as a JSON fixture.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from sqlalchemy.orm import Session

from bench.evaluation_data import (
    BASELINE_RUNS, BENIGN_RUNS, FIXTURES_DIR, injected_scenario, profile_to_json, write_fixture,
)
from bench.workloads.inject import EVAL_ROOT, INJECTIONS, OUTBOUND_PEER
from bench.workloads.peers import discard_listener, price_backend
from bench.workloads.services import REPO_ROOT, VENV_BIN, WORKLOADS, Workload
from bench.workloads.webapp import BACKEND_ADDRESS
from gate_server.storage import migrate
from gate_server.storage.engine import make_engine
from gate_server.storage.profiles import load_profile

CANARY_TRAFFIC = 0.2
WARMUP_SECONDS = 2.0


class RecordingFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class Scenario:
    name: str
    injection: Optional[str]
    traffic: float  # fraction of the workload's full rate
    role: str
    version: str


SCENARIOS = (
    [Scenario(run, None, 1.0, "baseline", "v1") for run in BASELINE_RUNS]
    + [Scenario(run, None, share, "canary", "v2") for run, share in BENIGN_RUNS.items()]
    + [Scenario(injected_scenario(i), i, CANARY_TRAFFIC, "canary", "v2") for i in INJECTIONS]
)


def _probe_commit() -> str:
    result = subprocess.run(["git", "log", "-1", "--format=%h", "--", "bpf", "host_probe"], cwd=REPO_ROOT,
                            capture_output=True, text=True)
    return result.stdout.strip()


def record_one(workload: Workload, scenario: Scenario, duration: float, window: float, work_dir: Path,
               fixtures_dir: Path) -> Path:
    url = f"sqlite:///{work_dir / f'{workload.name}-{scenario.name}.db'}"
    migrate.upgrade(url)
    rate = workload.full_rate * scenario.traffic
    with workload.running(scenario.injection) as pid:
        load = workload.load(rate, int(WARMUP_SECONDS + duration + 30))
        time.sleep(WARMUP_SECONDS)
        command = [str(VENV_BIN / "host-probe"), "record", "--service", workload.service,
                   "--version", scenario.version, "--role", scenario.role, "--pid", str(pid),
                   "--duration", f"{duration:g}s", "--window", f"{window:g}s", "--db", url,
                   "--spool", str(work_dir / "spool")]
        started = time.monotonic()
        probe = subprocess.run(command, capture_output=True, text=True, timeout=duration + 120)
        elapsed = time.monotonic() - started
        load_stats = load.stop()
    if probe.returncode != 0:
        raise RecordingFailed(f"{workload.name}/{scenario.name}: host-probe exited {probe.returncode}: "
                              f"{(probe.stderr or probe.stdout).strip()[-800:]}")
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            profile = load_profile(session, workload.service, scenario.version)
    finally:
        engine.dispose()
    recording = {
        "workload": workload.name, "scenario": scenario.name, "injection": scenario.injection,
        "role": scenario.role, "traffic_fraction": scenario.traffic, "target_rate_per_s": rate,
        "load": load_stats, "duration_s": duration, "window_s": window, "probe_wall_s": round(elapsed, 1),
        "kernel": platform.release(), "probe_commit": _probe_commit(),
        "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return write_fixture(fixtures_dir / workload.name / scenario.name, profile_to_json(profile, recording))


def record(workload_names: list[str], scenario_names: list[str], duration: float, window: float,
           fixtures_dir: Path = FIXTURES_DIR) -> int:
    work_dir = Path(tempfile.mkdtemp(prefix="syscall-gate-eval-record-"))
    failures = 0
    try:
        # Peers outside every recorded tree, up for baselines and canaries alike.
        with price_backend(BACKEND_ADDRESS), discard_listener(OUTBOUND_PEER):
            for name in workload_names:
                workload = WORKLOADS[name]()
                for scenario in SCENARIOS:
                    if scenario_names and scenario.name not in scenario_names:
                        continue
                    try:
                        path = record_one(workload, scenario, duration, window, work_dir, fixtures_dir)
                    except (RecordingFailed, subprocess.TimeoutExpired, RuntimeError) as exc:
                        failures += 1
                        print(f"FAILED {name}/{scenario.name}: {exc}", flush=True)
                        continue
                    print(f"recorded {name}/{scenario.name} -> {path} "
                          f"({path.stat().st_size // 1024} KiB)", flush=True)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
        shutil.rmtree(EVAL_ROOT, ignore_errors=True)  # the workloads' data: leave the host as found
    return 1 if failures else 0
