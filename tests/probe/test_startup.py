"""The production path of a rollout (issue 18): the baseline is recorded by attaching
to a service that has been running, the canary is started fresh under the probe.
The same program must pass; a canary that listens on a new port or reads a secret at
start-up must still pause. Real processes, the real probe, the real `gate-server check`."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from gate_contract.engine import make_engine
from gate_contract.models import Recording

from tests.probe.conftest import (PYTHON, free_port_below_ephemeral, gate_check, host_probe, migrated,
                                  read_profile, start_probe, wait_until_recording)
from tests.support.requirements import unavailable

SERVICE = Path(__file__).with_name("service.py")
SERVICE_NAME = "startup-test"
CONFIG = {"sufficiency": {"min_windows": 3, "min_syscalls": 100}}


@pytest.fixture
def service_dir(tmp_path):
    work = tmp_path / "service"
    work.mkdir()
    (work / "service.conf").write_text("port = 1\n")
    (work / "service.data").write_text("data\n")
    return work


def service_argv(work: Path, port: int, *extra: str) -> list[str]:
    return [PYTHON, str(SERVICE), "--dir", str(work), "--port", str(port), *extra]


def record(db_url: str, tmp_path: Path, version: str, role: str, *scope: str, startup: str = "2s") -> None:
    result = host_probe("record", "--service", SERVICE_NAME, "--version", version, "--role", role,
                        "--window", "1s", "--startup", startup, "--duration", "6s", "--db", db_url,
                        "--spool", str(tmp_path / "spool"), *scope, timeout=120)
    assert result.returncode == 0, result.stderr


def attached_baseline(db_url: str, tmp_path: Path, work: Path, port: int, *extra: str,
                      startup: str = "2s") -> None:
    """The baseline: a service that is serving before the probe attaches. However young,
    its start-up was not observed (it once slept past --startup here: no longer needed)."""
    service = subprocess.Popen(service_argv(work, port, *extra))
    try:
        deadline = time.monotonic() + 30
        while not (work / "READY").exists():
            assert time.monotonic() < deadline and service.poll() is None, "the service did not start"
            time.sleep(0.05)
        record(db_url, tmp_path, "v1", "baseline", "--pid", str(service.pid), startup=startup)
    finally:
        service.kill()
        service.wait()
    (work / "READY").unlink()


def check(db_url: str, tmp_path: Path) -> dict:
    return gate_check(db_url, tmp_path, SERVICE_NAME, CONFIG)


@pytest.fixture
def attached(ebpf, tmp_path, service_dir):
    db_url = migrated(f"sqlite:///{tmp_path / 'gate.db'}")
    port = free_port_below_ephemeral()
    # Attached 0.2 s after it serves, with --startup 60s: however long bcc's compile takes,
    # well inside its start-up span (issue 23: such a baseline had its first windows taken
    # for its start-up, and the canary's start-up lookup then paused as `new`).
    attached_baseline(db_url, tmp_path, service_dir, port, "--lookup", lookup_socket(service_dir), startup="60s")
    return db_url, port


def lookup_socket(service_dir: Path) -> str:
    """A unix socket connected to once at start, as glibc's first name lookup tries nscd's."""
    return str(service_dir / "lookup.sock")


def test_an_attached_recording_starts_with_what_the_service_already_holds(attached, service_dir):
    db_url, port = attached
    windows = read_profile(db_url, "v1", SERVICE_NAME).windows
    first = windows[0]
    assert ("listen", f"inet:127.0.0.1:{port}") in first.inventory
    assert ("bind", f"inet:127.0.0.1:{port}") in first.inventory
    assert ("file", f"{service_dir}/service.conf:r") in first.inventory
    assert ("file", f"{service_dir}/service.log:w") in first.inventory
    assert not any(window.inventory for window in windows[1:])
    assert not any(window.startup for window in windows)  # attached to, however young: no start-up seen
    assert recording_startup(db_url, "v1") == "not_observed"
    # the kernel never saw the listen: it happened before the recording
    assert not any(("listen", f"inet:127.0.0.1:{port}") in window.counts for window in windows)


def test_a_fresh_canary_of_the_same_program_passes_against_an_attached_baseline(attached, tmp_path, service_dir):
    db_url, port = attached
    record(db_url, tmp_path, "v2", "canary", "--",
           *service_argv(service_dir, port, "--seconds", "5.5", "--lookup", lookup_socket(service_dir)))
    canary = read_profile(db_url, "v2", SERVICE_NAME).windows
    assert canary[0].startup and not canary[-1].startup
    assert recording_startup(db_url, "v2") == "observed"
    assert not canary[0].inventory  # a command we launch holds nothing yet
    assert ("listen", f"inet:127.0.0.1:{port}") in canary[0].counts
    verdict = check(db_url, tmp_path)
    # Never a pause (issue 23's bar). A warn is possible here: the unverified start-up
    # lookup and the start-up's own syscalls bring the score of this tiny service to 90.
    assert verdict["verdict"] in ("pass", "warn"), (verdict["reasons"], [a["reason"] for a in verdict["anomalies"]])
    assert not [a for a in verdict["anomalies"] if a["change"] == "new" and a["kind"] != "syscall"], verdict
    # its start-up lookup: the baseline's start-up was not observed, so unverified, never new
    (connect,) = [a for a in verdict["anomalies"] if a["kind"] == "connect"]
    assert connect["change"] == "unverified", connect


@pytest.mark.parametrize("change, expected_key", [
    ("new port", "listen"),
    ("secret at start-up", "sensitive"),
])
def test_a_fresh_canary_that_changes_at_start_up_still_pauses(attached, tmp_path, service_dir, change, expected_key):
    db_url, port = attached
    extra = (["--extra-port", str(free_port_below_ephemeral(after=port))] if change == "new port" else ["--secret"])
    record(db_url, tmp_path, "v2", "canary", "--", *service_argv(service_dir, port, "--seconds", "5.5", *extra))
    verdict = check(db_url, tmp_path)
    assert verdict["verdict"] == "pause", verdict["reasons"]
    groups = {a["group"] for a in verdict["anomalies"] if a["change"] == "new"}
    assert expected_key in groups, verdict["anomalies"]


def test_a_fresh_canary_that_switches_a_log_on_at_start_up_warns(attached, tmp_path, service_dir):
    db_url, port = attached
    record(db_url, tmp_path, "v2", "canary", "--",
           *service_argv(service_dir, port, "--seconds", "5.5", "--debug-log"))
    canary = read_profile(db_url, "v2", SERVICE_NAME).windows
    debug_log = ("file", f"{service_dir}/service-debug.log:w")
    # Opened in a start-up window; still held in the inventory taken when the start-up was over.
    assert any(debug_log in w.counts for w in canary if w.startup)
    (after_start_up,) = [w for w in canary if w.inventory]
    assert not after_start_up.startup and debug_log in after_start_up.inventory
    verdict = check(db_url, tmp_path)
    assert verdict["verdict"] == "warn", verdict["reasons"]
    assert [a["change"] for a in verdict["anomalies"] if (a["kind"], a["key"]) == debug_log] == ["new"]


def test_a_fresh_canary_that_opens_a_log_after_its_start_up_and_keeps_it_warns(attached, tmp_path, service_dir):
    """Issue 23: a log opened at its first line, after the start-up span (a logger that
    opens its file on first use), then written all run: counted once, in a directory
    the service writes to, it read as a one-off write and passed."""
    db_url, port = attached
    record(db_url, tmp_path, "v2", "canary", "--",
           *service_argv(service_dir, port, "--seconds", "5.5", "--lazy-log", "2.5"))
    debug_log = ("file", f"{service_dir}/service-debug.log:w")
    verdict = check(db_url, tmp_path)
    assert verdict["verdict"] in ("warn", "pause"), (verdict["reasons"], [a["reason"] for a in verdict["anomalies"]])
    assert [a["change"] for a in verdict["anomalies"] if (a["kind"], a["key"]) == debug_log] == ["new"]
    canary = read_profile(db_url, "v2", SERVICE_NAME).windows
    opened = [i for i, w in enumerate(canary) if debug_log in w.counts]
    assert len(opened) == 1 and not canary[opened[0]].startup, [w.startup for w in canary]
    # held at the drain of the window that opened it and at the next: listed as held while serving
    assert [i for i, w in enumerate(canary) if debug_log in w.inventory] == [opened[0] + 2]


def test_a_fresh_canary_with_a_new_syscall_in_most_windows_warns(attached, tmp_path, service_dir):
    """A new syscall in most windows (a random id drawn per request: getrandom) is at least a warn."""
    db_url, port = attached
    record(db_url, tmp_path, "v2", "canary", "--",
           *service_argv(service_dir, port, "--seconds", "5.5", "--request-ids"))
    verdict = check(db_url, tmp_path)
    assert verdict["verdict"] in ("warn", "pause"), verdict["reasons"]
    (getrandom,) = [a for a in verdict["anomalies"] if (a["kind"], a["key"]) == ("syscall", "getrandom")]
    assert getrandom["change"] == "new" and any("syscall getrandom" in r for r in verdict["reasons"]), verdict


def recording_startup(db_url: str, version: str) -> str | None:
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            return session.execute(select(Recording.startup).where(Recording.version == version)).scalar_one()
    finally:
        engine.dispose()


CGROUP2_ROOT = Path("/sys/fs/cgroup/unified")


def test_a_start_in_an_empty_cgroup_is_observed_from_its_first_process_and_again_after_a_restart(
        ebpf, tmp_path, service_dir):
    """Issue 23: a recording that opened on an empty cgroup (the agent registering a pod's
    cgroup) never marked a start-up window; the span is counted from the workload's first
    process, and starts again when its processes start again in the same cgroup."""
    if not (CGROUP2_ROOT / "cgroup.procs").exists():
        unavailable("ebpf", f"no cgroup v2 hierarchy at {CGROUP2_ROOT}")
    cgroup = CGROUP2_ROOT / f"syscall-gate-startup-{os.getpid()}"
    cgroup.mkdir()
    db_url = migrated(f"sqlite:///{tmp_path / 'gate.db'}")
    port = free_port_below_ephemeral()
    probe = None
    try:
        probe = start_probe(["record", "--service", SERVICE_NAME, "--version", "v1", "--window", "1s",
                             "--startup", "2s", "--duration", "10s", "--db", db_url,
                             "--spool", str(tmp_path / "spool"), "--cgroup", str(cgroup)])
        wait_until_recording(probe)
        time.sleep(1.5)  # a window or so of the empty cgroup
        for seconds in ("4.5", "1.5"):  # the first start, then a restart in the same cgroup
            subprocess.run(service_argv(service_dir, port, "--seconds", seconds), check=True, timeout=30,
                           preexec_fn=lambda: (cgroup / "cgroup.procs").write_text(str(os.getpid())))
            (service_dir / "READY").unlink()
        assert probe.wait(timeout=60) == 0, probe.stderr.read()
    finally:
        if probe and probe.poll() is None:
            probe.kill()
            probe.wait()
        cgroup.rmdir()
    windows = read_profile(db_url, "v1", SERVICE_NAME).windows
    marks = [w.startup for w in windows]
    listens = [("listen", f"inet:127.0.0.1:{port}") in w.counts for w in windows]
    assert not marks[0] and not windows[0].syscalls_total, marks  # the empty cgroup: no start-up yet
    first, second = [i for i, listened in enumerate(listens) if listened]
    assert marks[first] and marks[second], (marks, listens)
    assert not all(marks[first:second]), (marks, listens)  # the first start-up ended before the restart
    assert recording_startup(db_url, "v1") == "observed"


def test_a_program_started_through_a_symlink_is_the_same_program_attached_or_fresh(ebpf, tmp_path):
    """Issue 23: /usr/bin/redis-server is a symlink to redis-check-rdb. The attached
    baseline's inventory names what /proc/<pid>/exe names (redis-check-rdb), the fresh
    canary's exec named the symlink: `new exec` of the same program, a pause."""
    if not os.path.exists("/usr/bin/redis-server"):
        unavailable("ebpf", "redis-server is not installed (apt-get install redis-server)")
    db_url = migrated(f"sqlite:///{tmp_path / 'gate.db'}")
    port = free_port_below_ephemeral()
    redis = ["/usr/bin/redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
             "--dir", str(tmp_path)]
    baseline = subprocess.Popen(redis, stdout=subprocess.DEVNULL)
    try:
        record(db_url, tmp_path, "v1", "baseline", "--pid", str(baseline.pid))
    finally:
        baseline.terminate()
        baseline.wait()
    record(db_url, tmp_path, "v2", "canary", "--", "timeout", "5.5", *redis)
    canary_execs = {key for w in read_profile(db_url, "v2", SERVICE_NAME).windows
                    for kind, key in w.counts if kind == "exec"}
    assert os.path.realpath("/usr/bin/redis-server") in canary_execs, canary_execs
    assert "/usr/bin/redis-server" not in canary_execs
    verdict = check(db_url, tmp_path)
    assert not [a for a in verdict["anomalies"] if a["kind"] == "exec" and "redis" in a["key"]], verdict["anomalies"]
