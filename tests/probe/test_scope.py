"""Scope by --pid (descendants forked after the recording starts) and by --cgroup."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.probe.conftest import (PYTHON, REPO, migrated, read_profile, record_args, record_pid_after_trigger,
                                  start_probe, totals, wait_until_recording, workload)
from tests.support.requirements import unavailable

CGROUP2_ROOT = Path("/sys/fs/cgroup/unified")


def test_pid_scope_follows_children_forked_after_start(ebpf, work_dir, tmp_path):
    db_url = migrated(f"sqlite:///{tmp_path / 'gate.db'}")
    trigger = tmp_path / "go"
    target = subprocess.Popen(workload("wait", "--dir", str(work_dir), "--trigger", str(trigger),
                                       "--children", "2"))
    record_pid_after_trigger(db_url, tmp_path / "spool", "by-pid", target, trigger)
    counts = totals(read_profile(db_url, "by-pid"))
    assert counts[("file", f"{work_dir}/late-child.txt:r")] == 2
    assert counts[("exec", os.path.realpath("/bin/true"))] == 1
    assert counts[("process", "fork")] >= 3


def test_cgroup_scope_records_only_the_cgroup(ebpf, work_dir, tmp_path):
    if not (CGROUP2_ROOT / "cgroup.procs").exists():
        unavailable("ebpf", f"no cgroup v2 hierarchy at {CGROUP2_ROOT}")
    cgroup = CGROUP2_ROOT / f"syscall-gate-test-{os.getpid()}"
    cgroup.mkdir()
    db_url = migrated(f"sqlite:///{tmp_path / 'gate.db'}")
    trigger = tmp_path / "go"
    inside = outside = probe = None
    try:
        inside = subprocess.Popen(
            workload("wait", "--dir", str(work_dir), "--trigger", str(trigger), "--children", "1"),
            preexec_fn=lambda: (cgroup / "cgroup.procs").write_text(str(os.getpid())))
        outside = subprocess.Popen(workload("sibling", "--dir", str(work_dir), "--seconds", "3"))
        probe = start_probe(record_args(db_url, tmp_path / "spool", "by-cgroup", "--cgroup", str(cgroup),
                                         "--duration", "3s"))
        wait_until_recording(probe)
        trigger.touch()
        assert inside.wait(timeout=30) == 0
        assert probe.wait(timeout=30) == 0, probe.stderr.read()
    finally:
        for process in (inside, outside, probe):
            if process and process.poll() is None:
                process.kill()
                process.wait()
        deadline = time.monotonic() + 5
        while cgroup.exists() and time.monotonic() < deadline:
            try:
                cgroup.rmdir()
            except OSError:
                time.sleep(0.1)
    counts = totals(read_profile(db_url, "by-cgroup"))
    assert counts[("file", f"{work_dir}/late-child.txt:r")] == 1
    assert counts[("exec", os.path.realpath("/bin/true"))] == 1
    assert ("file", f"{work_dir}/sibling.txt:r") not in counts


def test_command_exit_ends_the_recording(ebpf, tmp_path):
    db_url = migrated(f"sqlite:///{tmp_path / 'gate.db'}")
    started = time.monotonic()
    result = subprocess.run([PYTHON, "-m", "host_probe.commands.cli",
                             *record_args(db_url, tmp_path / "spool", "short", "--duration", "60s",
                                          "--", sys.executable, "-c", "pass")],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 20
    assert len(read_profile(db_url, "short").windows) >= 1


def test_sigterm_flushes_the_open_window_and_exits_0(ebpf, tmp_path):
    db_url = migrated(f"sqlite:///{tmp_path / 'gate.db'}")
    log = tmp_path / "probe.log"
    with log.open("w") as stderr:
        # its own session, so the launched command can be cleaned up with the group
        probe = subprocess.Popen([PYTHON, "-m", "host_probe.commands.cli",
                                  *record_args(db_url, tmp_path / "spool", "stopped", "--window", "60s",
                                               "--", "sh", "-c", "cat /etc/hostname >/dev/null; sleep 60")],
                                 cwd=REPO, stderr=stderr, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while "recording" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        probe.send_signal(signal.SIGTERM)
        assert probe.wait(timeout=30) == 0, log.read_text()
    finally:
        os.killpg(probe.pid, signal.SIGKILL)
        probe.wait()
    windows = read_profile(db_url, "stopped").windows
    assert len(windows) == 1  # the 60 s window, cut short and stored
    assert windows[0].counts[("file", "/etc/hostname:r")] == 1
