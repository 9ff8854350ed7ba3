"""Record every scenario of the evaluation set through one running node agent:
`python -m bench evaluation --record --through agent`.

`record` compiles the probe for each recording: seconds on this host, two to four
minutes under the VM tier's emulation, where the fentry file hook loads (about
5 h for the whole set). The agent compiles once and then watches workloads as
they come and go, so here one agent records them all, each scenario in a cgroup of
its own, as a service manager would run it:

- a fresh canary: the agent's config names the cgroup before it is made (the agent
  registers it in the kernel), then the service is started in it, so the agent
  sees its first process, as it sees a rolling update's;
- an attached baseline (or `benign-attached`): the service starts in its cgroup and
  serves; the config names it when it is as old as `record --pid` would find it
  (the scenario's attach_after, else past the start-up span).

Traffic, injections, durations and fixture names are those of
bench/evaluation_record.py. Each scenario is stored under a version of its own in
the agent's database (scenarios of one version would merge) and written to its
fixture under the scenario's version, with `through: agent` in its recording facts.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from bench.evaluation_agent import (
    AgentProcess, _remove_cgroup, _start_in_cgroup, _write_config, cgroup2_root,
)
from bench.evaluation_data import Scenario, profile_to_json, write_fixture
from bench.evaluation_record import (
    ATTACH_AFTER_STARTUP_S, HOOK_AFTER_STARTUP_S, RecordOptions, RecordingFailed, _environment, _probe_commit,
    _stop_group, age_at_first_window, file_hook_arguments, stored_profiles,
)
from bench.workloads.services import LOG_DIR, Workload
from gate_server.storage import migrate

# How long the agent may take to act on its config or to close and deliver a recording
# (a drain per window; slower under emulation).
AGENT_REACTS_S = 60.0


class ScenarioAgent:
    """One agent, compiled once, recording one scenario at a time into one database."""

    def __init__(self, options: RecordOptions, work_dir: Path):
        # a directory of its own: the agent's status file there is not the one another
        # agent run (bench/evaluation_agent.py, in the same work directory) waits for
        work_dir = work_dir / "scenarios-agent"
        work_dir.mkdir(parents=True, exist_ok=True)
        self.options, self.work_dir = options, work_dir
        self.url = f"sqlite:///{work_dir / 'scenarios-agent.db'}"
        migrate.upgrade(self.url)
        self.config = work_dir / "scenarios-agent.yml"
        self.status = work_dir / "status.json"  # where AgentProcess waits for it
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = LOG_DIR / "scenarios-agent.log"
        self.agent = AgentProcess(self.config, self.url, work_dir, self.log_path, file_hook_arguments(options))
        self.base = cgroup2_root() / f"syscall-gate-eval-scenarios-{os.getpid()}"

    def __enter__(self) -> "ScenarioAgent":
        self.base.mkdir(exist_ok=True)
        self._configure([])
        self.agent.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self.agent.process is not None and self.agent.process.poll() is None:
            self.agent.stop()
        try:
            self.base.rmdir()
        except OSError:
            pass

    # -- the agent's side ------------------------------------------------------------
    def _reloads(self) -> int:
        try:
            return self.log_path.read_text(errors="replace").count("host-probe agent: reloaded ")
        except FileNotFoundError:
            return 0

    def _configure(self, entries: list[dict]) -> None:
        _write_config(self.config, entries, self.options.window, self.options.startup, self.status)

    def _status_written(self) -> int:
        try:
            return self.status.stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    def _reconfigure(self, entries: list[dict]) -> None:
        """Write the config and wait until the agent has acted on it. The agent logs the
        reload before the discovery that expects or attaches what the config names, and
        writes its status after it: the first status written once the reload is logged
        comes after that discovery. (Waiting for the log line alone let a fresh canary's
        cgroup be made before it was expected, once in 44 scenarios in the VM: its start
        went unobserved.)"""
        before = self._reloads()
        self._configure(entries)
        self._until(lambda _: self._reloads() > before, "read its new config")
        logged = self._status_written()
        self._until(lambda _: self._status_written() > logged, "write its status after the reload")

    def _until(self, condition, what: str) -> dict:
        deadline = time.monotonic() + AGENT_REACTS_S
        while True:
            if self.agent.process.poll() is not None:
                raise RecordingFailed(f"the agent exited {self.agent.process.returncode}: "
                                      f"{self.log_path.read_text(errors='replace')[-800:]}")
            try:
                status = json.loads(self.status.read_text())
            except (FileNotFoundError, json.JSONDecodeError):
                status = {}
            if condition(status):
                return status
            if time.monotonic() > deadline:
                raise RecordingFailed(f"the agent did not {what} within {AGENT_REACTS_S:.0f} s")
            time.sleep(0.1)

    @staticmethod
    def _watching(status: dict, version: str) -> bool:
        return any(w["version"] == version for w in status.get("workloads", []))

    # -- one scenario ----------------------------------------------------------------
    def record(self, workload: Workload, scenario: Scenario, fixtures_dir: Path) -> Path:
        options = self.options
        key = f"{workload.name}-{scenario.name}"
        cgroup = self.base / key
        stored_version = f"{scenario.version}-{scenario.name}"  # one version per scenario in the agent's database
        entry = {"name": key, "service": workload.service, "version": stored_version, "role": scenario.role,
                 "cgroup": str(cgroup)}
        rate = workload.full_rate * scenario.traffic * options.rate_scale
        env = _environment(scenario)
        workload.prepare(scenario.injection, scenario.variant)
        service = load = None
        service_started = 0.0
        try:
            with open(LOG_DIR / f"{workload.name}.log", "ab") as log:
                if scenario.fresh:
                    self._reconfigure([entry])  # expected before it is made: its first process is seen
                    cgroup.mkdir()
                    service = _start_in_cgroup(workload.command(scenario.variant), cgroup, env, log)
                    started = time.monotonic()
                    workload.wait_ready()
                    load = workload.load(rate, options.startup + HOOK_AFTER_STARTUP_S)
                else:
                    cgroup.mkdir()
                    service = _start_in_cgroup(workload.command(scenario.variant), cgroup, env, log)
                    workload.wait_ready()
                    service_started = time.time()
                    wait = (options.startup + ATTACH_AFTER_STARTUP_S if scenario.attach_after is None
                            else scenario.attach_after)
                    load = workload.load(rate, wait + options.startup + HOOK_AFTER_STARTUP_S)
                    time.sleep(wait)
                    self._reconfigure([entry])
                    self._until(lambda s: self._watching(s, stored_version), f"attach to {key}")
                    started = time.monotonic()
                time.sleep(max(0.0, started + options.duration - time.monotonic()))
                # Closed while the service serves, as a check reads a canary that runs (and as
                # `record --duration` ends): stopped first, postgres's shutdown (exit_group, its
                # postmaster.pid rewritten "stopping") fell into a last window of one run, not
                # the other, and paused "baseline run 1 vs run 2" under fentry (issue 23).
                self._reconfigure([])
                self._until(lambda s: not self._watching(s, stored_version) and s.get("spool_depth", 1) == 0,
                            f"close and deliver {key}")
                load_stats = load.stop()
                load = None
                _stop_group(service)
                service = None
                _remove_cgroup(cgroup)
        finally:
            if load is not None:
                load.stop()
            if service is not None:
                _stop_group(service)
            try:
                cgroup.rmdir()
            except OSError:
                pass
            workload.cleanup()
        profile = stored_profiles(self.url, workload.service, [stored_version])[stored_version]
        if not profile.windows:
            raise RecordingFailed(f"{workload.name}/{scenario.name}: the agent stored no window")
        recording = {
            "workload": workload.name, "scenario": scenario.name, "injection": scenario.injection,
            "variant": scenario.variant, "fresh": scenario.fresh, "through": "agent", "compiled_once": True,
            "file_hook": options.file_hook or "auto", "rate_scale": options.rate_scale,
            "role": scenario.role, "traffic_fraction": scenario.traffic, "target_rate_per_s": rate,
            "load": load_stats, "duration_s": options.duration, "window_s": options.window,
            "startup_s": options.startup,
            "attached_after_start_s": None if scenario.fresh else age_at_first_window(profile, service_started),
            "kernel": platform.release(), "probe_commit": _probe_commit(),
            "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        profile = replace(profile, version=scenario.version)
        return write_fixture(fixtures_dir / workload.name / scenario.name, profile_to_json(profile, recording))
