"""Issue 23, what the agent makes of a workload that appears while it runs: a workload
it is configured for, started in a new cgroup of its own (a unit starting, a rolling
update's new version), is seen from its first process (the kernel registers the cgroup
as it is made, cgroup_mkdir, not at the agent's next poll); and one added late in the
agent's window gets no stub first window. Real cgroups, real processes, the real agent."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from gate_contract.engine import make_engine
from gate_contract.models import Recording
from gate_server.storage.profiles import load_profile
from tests.discovery.dockerd import IMAGE_TAG

@contextlib.contextmanager
def serving(cgroup, code: str, *args: str):
    """`python -c code` placed in `cgroup` before it execs, as a service manager starts a unit;
    yields once it printed "up"; killed after."""
    procs = cgroup / "cgroup.procs"
    service = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                               preexec_fn=lambda: procs.write_text(str(os.getpid())))
    try:
        assert service.stdout.readline() == b"up\n"
        yield service
    finally:
        service.kill()
        service.wait()


def the_recording(run, service: str, version: str):
    """(what the one recording stored says of its start-up, its windows)."""
    engine = make_engine(run.db_url)
    try:
        with Session(engine) as session:
            (startup,) = session.scalars(select(Recording.startup)).all()
            return startup, load_profile(session, service, version).windows
    finally:
        engine.dispose()


# Opens its start-up file once, as a service reads its config, then serves (sleeps).
STARTS = "import sys, time\nopen(sys.argv[1]).close()\nprint('up', flush=True)\ntime.sleep(60)\n"


def test_a_workload_started_in_a_new_cgroup_is_observed_from_its_first_process(make_cgroup, agent_run,
                                                                              cgroup2_root, tmp_path):
    name = f"sg-agent-new-{uuid.uuid4().hex[:8]}"
    # A long poll: what is counted before the agent's poll finds the cgroup was seen in kernel.
    run = agent_run({"workloads": [{"service": "starts", "version": "v2", "role": "canary",
                                    "cgroup": str(cgroup2_root / name)}],
                     "poll_interval": "3s", "startup": "2s"})
    run.start()
    config_file = tmp_path / "starts.conf"
    config_file.write_text("x\n")
    with serving(make_cgroup(name), STARTS, str(config_file)):
        run.wait_for(lambda s: run.services(s).get("starts", {}).get("windows", 0) >= 3, timeout=30)
        run.stop()
    startup, windows = the_recording(run, "starts", "v2")
    assert startup == "observed"
    started = [w for w in windows if w.syscalls_total]
    assert started and started[0].startup, [(w.startup, w.syscalls_total) for w in windows]
    assert ("process", "exec") in started[0].counts  # its exec, in its new cgroup
    assert ("file", f"{config_file}:r") in started[0].counts


def test_a_workload_added_late_in_the_agents_window_gets_no_stub_first_window(make_cgroup, agent_run, opener,
                                                                              cgroup2_root, tmp_path):
    ticker, late = (f"sg-agent-{role}-{uuid.uuid4().hex[:8]}" for role in ("ticker", "late"))
    run = agent_run({"workloads": [{"service": "ticker", "version": "v1", "cgroup": str(cgroup2_root / ticker)},
                                   {"service": "late", "version": "v1", "cgroup": str(cgroup2_root / late)}],
                     "window": "2s", "poll_interval": "0.2s"})
    opener(tmp_path / "ticker.txt", make_cgroup(ticker))
    run.start()
    windows = run.wait_for(lambda s: run.services(s).get("ticker", {}).get("windows", 0) >= 1)
    count = run.services(windows)["ticker"]["windows"]
    run.wait_for(lambda s: run.services(s)["ticker"]["windows"] > count, timeout=10)
    time.sleep(1.4)  # a drain just happened: the next is about 0.6 s away
    opener(tmp_path / "late.txt", make_cgroup(late))
    run.wait_for(lambda s: run.services(s).get("late", {}).get("windows", 0) >= 2, timeout=15)
    run.stop()
    engine = make_engine(run.db_url)
    try:
        with Session(engine) as session:
            windows = load_profile(session, "late", "v1").windows
    finally:
        engine.dispose()
    lengths = [(w.ended_at - w.started_at).total_seconds() for w in windows]
    assert all(length >= 1.0 for length in lengths[:-1]), lengths  # the last: cut by the agent's stop
    assert f"{tmp_path}/late.txt:r" in {key for kind, key in windows[0].counts if kind == "file"}


# Serves, forking a short-lived child every 0.2 s (a shell-out, a backend per connection).
FORKS = ("import os, time\nprint('up', flush=True)\nwhile True:\n    if os.fork() == 0:\n        os._exit(0)\n"
         "    os.wait()\n    time.sleep(0.2)\n")


def test_a_forking_workload_attached_to_never_takes_its_forks_for_a_restart(make_cgroup, agent_run, cgroup2_root):
    # The same process's start, computed twice from a boot time read twice, looked later than
    # itself: a window with a fork then began a start-up (seen in `bench agent_scale --forking`).
    name = f"sg-agent-forks-{uuid.uuid4().hex[:8]}"
    cgroup = make_cgroup(name)
    with serving(cgroup, FORKS):
        run = agent_run({"workloads": [{"service": "forks", "version": "v1", "cgroup": str(cgroup)}],
                         "startup": "1s"})
        run.start()
        run.wait_for(lambda s: run.services(s).get("forks", {}).get("windows", 0) >= 5, timeout=30)
        run.stop()
    startup, windows = the_recording(run, "forks", "v1")
    assert all(w.counts.get(("process", "fork")) for w in windows[1:-1])
    assert startup == "not_observed" and not [w for w in windows if w.startup]


def test_a_labelled_container_started_after_the_agent_is_observed_from_its_first_process(agent_run, docker_daemon,
                                                                                         run_container):
    # A label of this test's own: the host's daemon may run other labelled containers.
    label = f"syscall-gate-test.{uuid.uuid4().hex[:8]}.service"
    # A long poll: a container found by polling is attached to, its start-up not observed.
    run = agent_run({"containers": {"socket": docker_daemon.socket, "service_label": label},
                     "poll_interval": "3s", "startup": "2s"})
    run.start()
    # Reads its hostname file once at its start (as a service reads its config), then serves.
    run_container(labels={label: "boots", "syscall-gate.role": "canary"},
                  command=["/bin/sh", "-c", ": < /etc/hostname; exec /bin/sleep 600"])
    run.wait_for(lambda s: run.services(s).get("boots", {}).get("windows", 0) >= 1, timeout=30)
    run.stop()
    startup, windows = the_recording(run, "boots", IMAGE_TAG)
    assert startup == "observed", run.log()
    first = windows[0]
    assert first.startup and not first.inventory, [(w.startup, w.syscalls_total, w.inventory) for w in windows]
    assert ("process", "exec") in first.counts
    assert ("file", "/etc/hostname:r") in first.counts, sorted(first.counts)


def test_a_program_exec_d_after_the_agent_s_polls_is_still_credited_to_the_one_that_exec_d_it(
        make_cgroup, agent_run, cgroup2_root, tmp_path):
    # A launcher that execs the service once the agent has polled a few times (setpriv then
    # postgres, slowed down: under emulation postgres's lineage lost setpriv, and every
    # poll's re-seeding of the workload's processes wiped what the kernel knew of them).
    name = f"sg-agent-lineage-{uuid.uuid4().hex[:8]}"
    run = agent_run({"workloads": [{"service": "launched", "version": "v2", "role": "canary",
                                    "cgroup": str(cgroup2_root / name)}],
                     "poll_interval": "0.3s", "startup": "1s"})
    run.start()
    service = tmp_path / "service.py"
    service.write_text("import time\nprint('up', flush=True)\ntime.sleep(60)\n")
    # /bin/sh sleeps through ~5 polls, then execs python in its own process
    launcher = "import os, sys\nos.execv('/bin/sh', ['sh', '-c', sys.argv[1]])\n"
    with serving(make_cgroup(name), launcher, f"sleep 1.5; exec {sys.executable} {service}"):
        run.wait_for(lambda s: run.services(s).get("launched", {}).get("windows", 0) >= 3, timeout=30)
        run.stop()
    _, windows = the_recording(run, "launched", "v2")
    started_by = {}
    for window in windows:
        for facts in window.programs:
            started_by.setdefault(facts.program, set()).update(facts.started_by)
    python = os.path.realpath(sys.executable)
    assert started_by.get("/usr/bin/dash") is not None, started_by  # sh's exec was seen
    assert started_by.get(python) == {"/usr/bin/dash"}, started_by
