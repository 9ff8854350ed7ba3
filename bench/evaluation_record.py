"""Record the evaluation set with the real probe (root + eBPF): `python -m bench
evaluation --record`.

For each workload (bench/workloads/services.py): two baseline runs at full traffic,
recorded by attaching (`host-probe record --pid`) to a service that has been
running for longer than the probe's start-up span (a baseline in production has
run for days); benign canaries and one canary per injected change at 20 % of the
traffic (the canary share of a split), each started fresh by the probe
(`host-probe record -- CMD`, as a rollout starts it), except `benign-attached`,
which is attached to as a baseline is. Every recording goes into its own SQLite
database and is exported with gate_server.storage.profiles.load_profile as a JSON
fixture.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from sqlalchemy.orm import Session

from bench.evaluation_data import FIXTURES_DIR, Scenario, profile_to_json, scenarios_for, write_fixture
from bench.workloads.inject import ENV_VAR, EVAL_ROOT, OUTBOUND_PEER
from bench.workloads.peers import discard_listener, price_backend
from bench.workloads.services import LOG_DIR, PYTHON, REPO_ROOT, WORKLOADS, Workload
from bench.workloads.webapp import BACKEND_ADDRESS
from gate_server.storage import migrate
from gate_contract.engine import make_engine
from gate_contract.profile import Profile
from gate_server.storage.profiles import load_profile

# An attached service has run this long past the probe's start-up span when the
# recording begins: none of its windows are start-up windows.
ATTACH_AFTER_STARTUP_S = 2.0
# The "once" request comes this long after the recording's start-up span.
HOOK_AFTER_STARTUP_S = 4.0


# `--scenario agent`: the agent's run (bench/evaluation_agent.py), both of its fixtures
AGENT_SCENARIO = "agent"
# The probe compiles before it launches a fresh canary: a minute or more under the VM's
# emulation (bench/evaluation_vm.py), so the service's own ready timeout starts only then.
PROBE_LAUNCH_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class RecordOptions:
    """How every recording of one `--record` run is taken."""

    duration: float = 24.0
    window: float = 3.0
    startup: float = 6.0
    file_hook: Optional[str] = None  # --file-hook of record and the agent (None: the probe's default, auto)
    rate_scale: float = 1.0  # of every workload's rate (the VM's emulated CPU serves less)


class RecordingFailed(RuntimeError):
    pass


def _probe_commit() -> str:
    result = subprocess.run(["git", "log", "-1", "--format=%h", "--", "bpf", "host_probe"], cwd=REPO_ROOT,
                            capture_output=True, text=True)
    return result.stdout.strip()


def _environment(scenario: Scenario) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    if scenario.injection:
        env[ENV_VAR] = scenario.injection
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env


def _stop_group(process: subprocess.Popen) -> None:
    """The whole process group: the service's tree (gunicorn's workers, postgres' backends)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
        os.killpg(process.pid, signal.SIGTERM)  # a child the probe left behind
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stored_profiles(url: str, service: str, versions: list[str]) -> dict[str, Profile]:
    """Each version's profile, as the server loads it, from a recording's database."""
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return {version: load_profile(session, service, version) for version in versions}
    finally:
        engine.dispose()


def age_at_first_window(profile: Profile, service_started: float) -> Optional[float]:
    """How old the service (started at `service_started`, a time.time()) was when the
    recording's first window began; None without a window."""
    if not profile.windows:
        return None
    return round(profile.windows[0].started_at.replace(tzinfo=timezone.utc).timestamp() - service_started, 2)


def file_hook_arguments(options: RecordOptions) -> list[str]:
    return ["--file-hook", options.file_hook] if options.file_hook else []


def _probe_command(workload: Workload, scenario: Scenario, url: str, options: RecordOptions,
                   work_dir: Path) -> list[str]:
    return [PYTHON, "-m", "host_probe.commands.cli", "record", "--service", workload.service,
            "--version", scenario.version, "--role", scenario.role,
            "--duration", f"{options.duration:g}s", "--window", f"{options.window:g}s",
            "--startup", f"{options.startup:g}s", *file_hook_arguments(options),
            "--db", url, "--spool", str(work_dir / "spool")]


def _children(pid: int) -> list[int]:
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except FileNotFoundError:
        return []
    found = []
    for task in tasks:
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            pass
    return found


def wait_for_launch(probe: subprocess.Popen, timeout: float = PROBE_LAUNCH_TIMEOUT_S) -> None:
    """Until the probe (compiled, attached) has started the command it records."""
    deadline = time.monotonic() + timeout
    while not _children(probe.pid):
        if probe.poll() is not None:
            raise RecordingFailed(f"host-probe exited {probe.returncode} before it started the service")
        if time.monotonic() > deadline:
            raise RecordingFailed(f"host-probe did not start the service within {timeout:.0f} s")
        time.sleep(0.2)


def record_one(workload: Workload, scenario: Scenario, options: RecordOptions, work_dir: Path,
               fixtures_dir: Path) -> Path:
    duration, window, startup = options.duration, options.window, options.startup
    url = f"sqlite:///{work_dir / f'{workload.name}-{scenario.name}.db'}"
    migrate.upgrade(url)
    rate = workload.full_rate * scenario.traffic * options.rate_scale
    env = _environment(scenario)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    probe_command = _probe_command(workload, scenario, url, options, work_dir)
    workload.prepare(scenario.injection, scenario.variant)
    load = None
    service_started = 0.0
    try:
        # The probe's stderr to a file, not a pipe: a service it launches inherits it.
        with open(LOG_DIR / f"{workload.name}.log", "ab") as log, open(work_dir / "probe.err", "w+b") as err:
            if scenario.fresh:
                # The probe launches the service: its first syscalls are the canary's start.
                probe = subprocess.Popen([*probe_command, "--", *workload.command(scenario.variant)],
                                         cwd=REPO_ROOT, env=env, stdout=log, stderr=err,
                                         start_new_session=True)
                service = probe
                started = time.monotonic()
                wait_for_launch(probe)
                workload.wait_ready()
                load = workload.load(rate, startup + HOOK_AFTER_STARTUP_S)
            else:
                service = subprocess.Popen(workload.command(scenario.variant), cwd=REPO_ROOT, env=env,
                                           stdout=log, stderr=log, start_new_session=True)
                workload.wait_ready()
                service_started = time.time()
                wait = startup + ATTACH_AFTER_STARTUP_S if scenario.attach_after is None else scenario.attach_after
                load = workload.load(rate, wait + startup + HOOK_AFTER_STARTUP_S)
                time.sleep(wait)
                started = time.monotonic()
                probe = subprocess.Popen([*probe_command, "--pid", str(service.pid)], cwd=REPO_ROOT, env=env,
                                         stdout=log, stderr=err)
            try:
                probe.wait(timeout=duration + PROBE_LAUNCH_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                probe.kill()
                probe.wait()
            err.seek(0)
            probe_err = err.read()
            elapsed = time.monotonic() - started
            load_stats = load.stop()
            load = None
            _stop_group(service)
    finally:
        if load is not None:
            load.stop()
        workload.cleanup()
    if probe.returncode != 0:
        raise RecordingFailed(f"{workload.name}/{scenario.name}: host-probe exited {probe.returncode}: "
                              f"{probe_err.decode(errors='replace').strip()[-800:]}")
    profile = stored_profiles(url, workload.service, [scenario.version])[scenario.version]
    recording = {
        "workload": workload.name, "scenario": scenario.name, "injection": scenario.injection,
        "variant": scenario.variant, "fresh": scenario.fresh, "file_hook": options.file_hook or "auto",
        "rate_scale": options.rate_scale,
        "role": scenario.role, "traffic_fraction": scenario.traffic, "target_rate_per_s": rate,
        "load": load_stats, "duration_s": duration, "window_s": window, "startup_s": startup,
        "probe_wall_s": round(elapsed, 1),
        # the service's age when the probe's first window began (the probe compiles first)
        "attached_after_start_s": None if scenario.fresh else age_at_first_window(profile, service_started),
        "kernel": platform.release(), "probe_commit": _probe_commit(),
        "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return write_fixture(fixtures_dir / workload.name / scenario.name, profile_to_json(profile, recording))


def record(workload_names: list[str], scenario_names: list[str], options: RecordOptions,
           fixtures_dir: Path = FIXTURES_DIR, through: str = "record") -> int:
    """`through`: "record" (a `host-probe record` per scenario) or "agent" (one running agent)."""
    from bench.evaluation_agent import record_through_agent
    from bench.evaluation_agent_scenarios import ScenarioAgent

    work_dir = Path(tempfile.mkdtemp(prefix="syscall-gate-eval-record-"))
    failures = 0
    try:
        # Peers outside every recorded tree, up for baselines and canaries alike.
        with price_backend(BACKEND_ADDRESS), discard_listener(OUTBOUND_PEER), contextlib.ExitStack() as stack:
            agents: list[ScenarioAgent] = []

            def record_scenario(workload, scenario, fixtures_dir):
                if through == "record":
                    return record_one(workload, scenario, options, work_dir, fixtures_dir)
                if not agents:  # started at the first scenario it records (`--scenario agent` needs none)
                    began = time.monotonic()
                    agents.append(stack.enter_context(ScenarioAgent(options, work_dir)))
                    print(f"the scenarios' agent is up in {time.monotonic() - began:.0f} s (compiled once)",
                          flush=True)
                return agents[0].record(workload, scenario, fixtures_dir)
            for name in workload_names:
                workload = WORKLOADS[name]()
                for scenario in scenarios_for(workload):
                    if scenario_names and scenario.name not in scenario_names:
                        continue
                    began = time.monotonic()
                    try:
                        path = record_scenario(workload, scenario, fixtures_dir)
                    except (RecordingFailed, subprocess.TimeoutExpired, RuntimeError) as exc:
                        failures += 1
                        print(f"FAILED {name}/{scenario.name}: {exc}", flush=True)
                        continue
                    print(f"recorded {name}/{scenario.name} -> {path} ({path.stat().st_size // 1024} KiB, "
                          f"{time.monotonic() - began:.0f} s)", flush=True)
                if not scenario_names or AGENT_SCENARIO in scenario_names:
                    began = time.monotonic()
                    try:
                        paths = record_through_agent(workload, options, work_dir, fixtures_dir)
                    except (RecordingFailed, subprocess.TimeoutExpired, RuntimeError, OSError) as exc:
                        failures += 1
                        print(f"FAILED {name}/{AGENT_SCENARIO}: {exc}", flush=True)
                        continue
                    print(f"recorded {name} through the agent -> {', '.join(str(p) for p in paths)} "
                          f"({time.monotonic() - began:.0f} s)", flush=True)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
        shutil.rmtree(EVAL_ROOT, ignore_errors=True)  # the workloads' data: leave the host as found
    return 1 if failures else 0
