"""Record the sample service with the real probe: baseline and canaries side by side,
as a real rollout records them.

The baseline instances are already serving when their recording starts: the probe
attaches to them (`host-probe record --pid`), and takes what they hold (listening socket,
open config and log) from /proc. The canaries start fresh under the probe
(`host-probe record ... -- <service command>`), so their start-up falls in their
recordings, marked as start-up windows. All share one port (SO_REUSEPORT) and the load
generator's traffic is split between them by the kernel, as a canary's would be.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from examples.load import LoadGenerator, LoadResult
from examples.narrative import Narrative
from examples.processes import Child, DemoError, ProcessGroup, free_port, tail, wait_for
from examples.stack import tool

PROBE_START_SECONDS = 120  # bcc compiles its C at load: several probes at once take a while
PROBE_EXIT_GRACE_SECONDS = 60
# windows within this long of an instance's start are its start-up windows; a baseline
# is attached to only once it has run longer (so it is recorded as in production)
STARTUP_SECONDS = 3


@dataclass(frozen=True)
class Instance:
    name: str
    version: str
    role: str  # baseline | canary
    attach: bool = False  # started first, recorded by attaching (as production's baseline is)


@dataclass(frozen=True)
class RecordingPlan:
    service: str
    instances: tuple[Instance, ...]
    seconds: int
    window_seconds: int
    requests_per_second: float


def service_command(instance: Instance, state_dir: Path, port: int, ready_file: Path) -> list[str]:
    return [sys.executable, "-m", "examples.sample_service", "--version", instance.version,
            "--state-dir", str(state_dir), "--port", str(port), "--ready-file", str(ready_file)]


def probe_command(plan: RecordingPlan, instance: Instance, database_url: str, scope: list[str]) -> list[str]:
    return tool("host-probe") + [
        "record", "--service", plan.service, "--version", instance.version, "--role", instance.role,
        "--duration", f"{plan.seconds}s", "--window", f"{plan.window_seconds}s",
        "--startup", f"{STARTUP_SECONDS}s", "--db", database_url] + scope


def start_attached(plan: RecordingPlan, group: ProcessGroup, database_url: str, state_dir: Path, port: int,
                   ready_dir: Path, narrative: Narrative) -> list[tuple[Instance, Child, Path]]:
    """The baseline: its instances serve first; once past their start-up, the probe attaches."""
    services = []
    for instance in (i for i in plan.instances if i.attach):
        ready_file = ready_dir / instance.name
        services.append((instance, group.start(f"service-{instance.name}",
                                               service_command(instance, state_dir, port, ready_file)), ready_file))
    for instance, child, ready_file in services:
        wait_for(ready_file.exists, PROBE_START_SECONDS, f"{instance.name} to serve", child=child)
    time.sleep(STARTUP_SECONDS + 0.5)
    probes = []
    for instance, child, ready_file in services:
        argv = probe_command(plan, instance, database_url, ["--pid", str(child.process.pid)])
        probes.append((instance, group.start(f"probe-{instance.name}", argv), ready_file))
        narrative.step(f"host-probe record --version {instance.version} --role {instance.role} "
                       f"--pid {child.process.pid} ({instance.name}, serving for {STARTUP_SECONDS}+ s: attached to)")
    return probes


def wait_for_probes(probes: list[tuple[Instance, Child, Path]], deadline: float, seconds: int) -> None:
    """Until every probe has ended; the first one to fail stops the demo at once."""
    pending = list(probes)
    while pending:
        for instance, child, ready_file in list(pending):
            code = child.process.poll()
            if code is None:
                continue
            if code != 0:
                raise DemoError(f"host-probe for {instance.name} exited {code} "
                                f"(log: {child.log_path})\n{tail(child.log_path)}")
            pending.remove((instance, child, ready_file))
        if pending and time.monotonic() > deadline:
            raise DemoError(f"host-probe for {pending[0][0].name} did not end after its "
                            f"--duration {seconds}s (log: {pending[0][1].log_path})")
        time.sleep(0.5)


def record(plan: RecordingPlan, group: ProcessGroup, database_url: str, work_dir: Path,
           narrative: Narrative) -> LoadResult:
    state_dir = work_dir / "shop"
    ready_dir = work_dir / "ready"
    ready_dir.mkdir(exist_ok=True)
    port = free_port()
    probes = start_attached(plan, group, database_url, state_dir, port, ready_dir, narrative)
    for instance in (i for i in plan.instances if not i.attach):
        ready_file = ready_dir / instance.name
        argv = probe_command(plan, instance, database_url,
                             ["--"] + service_command(instance, state_dir, port, ready_file))
        probes.append((instance, group.start(f"probe-{instance.name}", argv), ready_file))
        narrative.step(f"host-probe record --version {instance.version} --role {instance.role} "
                       f"-- sample_service ({instance.name}, started fresh under the probe)")
    for instance, child, ready_file in probes:
        wait_for(ready_file.exists, PROBE_START_SECONDS,
                 f"the probe to load and start {instance.name}", child=child)
    for instance, child, _ in probes:
        wait_for(lambda: "recording" in child.log_path.read_text(), PROBE_START_SECONDS,
                 f"the probe of {instance.name} to attach", child=child)
    narrative.done(f"{len(probes)} instances listening on 127.0.0.1:{port}, each in its probe's scope")

    narrative.step(f"load: ~{plan.requests_per_second:.0f} requests/s for ~{plan.seconds} s, "
                   f"split by the kernel between the instances")
    load = LoadGenerator(port, plan.requests_per_second, seconds=plan.seconds + PROBE_EXIT_GRACE_SECONDS,
                         max_requests=int(plan.requests_per_second * (plan.seconds + 60))).start()
    try:
        wait_for_probes(probes, time.monotonic() + plan.seconds + PROBE_EXIT_GRACE_SECONDS, plan.seconds)
    finally:
        result = load.stop()
    narrative.done(f"load: {result.summary()}")
    if result.errors > result.requests // 10:
        raise DemoError(f"the sample service failed {result.errors} of {result.requests} requests "
                        f"(logs under {group.log_dir})")
    return result
