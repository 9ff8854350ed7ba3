"""Record the evaluation set through the node agent (`host-probe agent`), as a
host's rollout meets it: `python -m bench evaluation --record --scenario agent`.

One run per workload gives two fixtures:

agent-baseline  v1 in a cgroup of its own, serving before the agent watches it: the
                agent (already running, its config naming v2 only) is told of v1
                AGENT_ATTACH_S after v1 started (well inside its start-up span; the
                agent finds it by polling its config), records AGENT_SESSION_S, is
                stopped and started again while v1 serves (the restarted agent attaches
                long after its start) and records AGENT_SESSION_S more. Full traffic.
agent-rolling   then the rolling update on the host: traffic off, v1 stopped, v2 (the
                same code) started in a new cgroup of its own on the same port, traffic
                on again (all of it: v2 replaced v1), recorded AGENT_CANARY_S.

Windows and the start-up span are those of the `record` fixtures (bench/evaluation.py).
"""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import yaml

from bench.evaluation_data import profile_to_json, write_fixture
from bench.evaluation_record import (
    PROBE_LAUNCH_TIMEOUT_S, RecordOptions, RecordingFailed, _environment, _probe_commit, _stop_group,
    file_hook_arguments, stored_profiles,
)
from bench.evaluation_data import Scenario
from bench.workloads.services import LOG_DIR, PYTHON, REPO_ROOT, Workload
from gate_server.storage import migrate

CGROUP2_ROOT = Path("/sys/fs/cgroup/unified")
AGENT_ATTACH_S = 1.0      # v1's age when the agent is told of it
AGENT_SESSION_S = 12.0    # each of the agent's two runs over v1
AGENT_CANARY_S = 18.0     # v2 after the rolling update
AGENT_START_TIMEOUT_S = PROBE_LAUNCH_TIMEOUT_S  # it compiles first: a minute or more under emulation
AGENT_FIXTURES = ("agent-baseline", "agent-rolling")


def cgroup2_root() -> Path:
    if (CGROUP2_ROOT / "cgroup.procs").exists():
        return CGROUP2_ROOT
    return Path("/sys/fs/cgroup")


class AgentProcess:
    def __init__(self, config_path: Path, url: str, work_dir: Path, log_path: Path, file_hook: list[str]):
        self.config_path, self.url, self.work_dir, self.log_path = config_path, url, work_dir, log_path
        self.file_hook = file_hook
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        status = self.work_dir / "status.json"
        status.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [PYTHON, "-m", "host_probe.commands.cli", "agent", "--config", str(self.config_path),
             *self.file_hook, "--db", self.url, "--spool", str(self.work_dir / "spool")],
            cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=open(self.log_path, "ab"))
        deadline = time.monotonic() + AGENT_START_TIMEOUT_S
        while not status.exists():  # written after its programs are loaded and its first discovery
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RecordingFailed(f"the agent did not start: {self.log_path.read_text()[-800:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise RecordingFailed("the agent did not stop in 60 s") from None
        if code != 0:
            raise RecordingFailed(f"the agent exited {code}: {self.log_path.read_text()[-800:]}")


def _start_in_cgroup(command: list[str], cgroup: Path, env: dict[str, str], log) -> subprocess.Popen:
    """As a service manager starts a unit: the child moves itself into its cgroup, then execs."""
    procs = cgroup / "cgroup.procs"
    return subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=log, start_new_session=True,
                            preexec_fn=lambda: procs.write_text(str(os.getpid())))


def _remove_cgroup(cgroup: Path) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            cgroup.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:  # its last process still exiting
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _write_config(path: Path, entries: list[dict], window: float, startup: float, status: Path) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(yaml.safe_dump({
        "workloads": entries, "window": f"{window:g}s", "startup": f"{startup:g}s", "poll_interval": "0.5s",
        "max_workloads": 4, "status_file": str(status)}))
    temporary.replace(path)  # the agent never reads half a config


def record_through_agent(workload: Workload, options: RecordOptions, work_dir: Path,
                         fixtures_dir: Path) -> list[Path]:
    window, startup = options.window, options.startup
    rate = workload.full_rate * options.rate_scale
    url = f"sqlite:///{work_dir / f'{workload.name}-agent.db'}"
    migrate.upgrade(url)
    base = cgroup2_root() / f"syscall-gate-eval-{os.getpid()}"
    old_cgroup, new_cgroup = base / f"{workload.name}-v1", base / f"{workload.name}-v2"
    entry = {"service": workload.service, "cgroup": None}
    old_entry = {**entry, "name": "old", "version": "v1", "role": "baseline", "cgroup": str(old_cgroup)}
    new_entry = {**entry, "name": "new", "version": "v2", "role": "canary", "cgroup": str(new_cgroup)}
    config = work_dir / "agent.yml"
    status = work_dir / "status.json"
    env = _environment(Scenario("agent"))
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    agent_log = LOG_DIR / f"{workload.name}-agent.log"
    agent = AgentProcess(config, url, work_dir, agent_log, file_hook_arguments(options))
    old = new = load = None
    workload.prepare(None, None)
    base.mkdir(exist_ok=True)
    began = time.monotonic()
    try:
        with open(LOG_DIR / f"{workload.name}.log", "ab") as log:
            _write_config(config, [new_entry], window, startup, status)
            agent.start()
            old_cgroup.mkdir()
            old = _start_in_cgroup(workload.command(None), old_cgroup, env, log)
            started = time.monotonic()
            workload.wait_ready()
            load = workload.load(rate, 3600)
            time.sleep(max(0.0, started + AGENT_ATTACH_S - time.monotonic()))
            attached_at = time.monotonic() - started
            _write_config(config, [old_entry, new_entry], window, startup, status)
            time.sleep(AGENT_SESSION_S)
            agent.stop()      # restarted while the service runs
            agent.start()
            time.sleep(AGENT_SESSION_S)
            load.stop()       # the rolling update: traffic off, v1 stopped, v2 started in its own cgroup
            load = None
            _stop_group(old)
            _remove_cgroup(old_cgroup)  # as a service manager does: the old version's recording closes
            new_cgroup.mkdir()
            new = _start_in_cgroup(workload.command(None), new_cgroup, env, log)
            workload.wait_ready()
            load = workload.load(rate, 3600)
            time.sleep(AGENT_CANARY_S)
            load_stats = load.stop()
            load = None
            agent.stop()
    finally:
        if load is not None:
            load.stop()
        for service in (old, new):
            if service is not None:
                _stop_group(service)
        if agent.process is not None and agent.process.poll() is None:
            agent.process.kill()
            agent.process.wait()
        workload.cleanup()
        for cgroup in (old_cgroup, new_cgroup, base):
            try:
                cgroup.rmdir()
            except OSError:
                pass
    profiles = stored_profiles(url, workload.service, ["v1", "v2"])
    common = {
        "workload": workload.name, "injection": None, "variant": None, "through": "agent",
        "window_s": window, "startup_s": startup, "kernel": platform.release(), "probe_commit": _probe_commit(),
        "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "agent_wall_s": round(time.monotonic() - began, 1),
        "file_hook": options.file_hook or "auto", "rate_scale": options.rate_scale, "target_rate_per_s": rate,
    }
    baseline = {**common, "scenario": "agent-baseline", "fresh": False, "role": "baseline", "traffic_fraction": 1.0,
                "attached_at_s": round(attached_at, 2), "agent_restarted": True, "session_s": AGENT_SESSION_S}
    canary = {**common, "scenario": "agent-rolling", "fresh": True, "role": "canary", "traffic_fraction": 1.0,
              "rolling_update": True, "duration_s": AGENT_CANARY_S, "load": load_stats}
    return [write_fixture(fixtures_dir / workload.name / "agent-baseline", profile_to_json(profiles["v1"], baseline)),
            write_fixture(fixtures_dir / workload.name / "agent-rolling", profile_to_json(profiles["v2"], canary))]
