"""The demo leaves nothing running: every child and its descendants are stopped,
and a child that dies early is reported with its log."""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path

import pytest

from examples.processes import DemoError, ProcessGroup, wait_for


def pids_with_marker(marker: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                if marker.encode() in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                pass
    return found


@pytest.fixture
def group(tmp_path):
    group = ProcessGroup(tmp_path, dict(os.environ), tmp_path)
    yield group
    group.stop_all()


def test_stop_all_ends_children_and_their_descendants(group):
    marker = f"demo-test-{uuid.uuid4().hex}"
    # A parent that ignores SIGTERM and a grandchild it started: both must go.
    script = ("import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
              "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)', sys.argv[1]]); "
              "time.sleep(300)")
    group.start("stubborn", [sys.executable, "-c", script, marker])
    wait_for(lambda: len(pids_with_marker(marker)) == 2, 30, "the child and grandchild to start")
    started = time.monotonic()
    group.stop_all()
    assert pids_with_marker(marker) == []
    assert time.monotonic() - started < 30  # SIGTERM grace, then SIGKILL


def test_a_child_that_dies_while_awaited_is_reported_with_its_log(group):
    child = group.start("broken", [sys.executable, "-c", "import sys; print('cannot bind'); sys.exit(3)"])
    with pytest.raises(DemoError, match=r"broken exited with code 3 .*broken\.log.*\n.*cannot bind"):
        wait_for(lambda: False, 10, "the service to listen", child=child)


def test_run_returns_the_output_and_fails_loudly_on_a_non_zero_exit(group):
    assert group.run("hello", [sys.executable, "-c", "print('hi')"], timeout=10).strip() == "hi"
    with pytest.raises(DemoError, match="exited 4"):
        group.run("fails", [sys.executable, "-c", "import sys; sys.exit(4)"], timeout=10)


def test_a_second_run_under_the_same_name_returns_only_its_own_output(group):
    # Both runs append to one log; the demo's second `tokens create` once got the first token back.
    assert group.run("token", [sys.executable, "-c", "print('first')"], timeout=10).strip() == "first"
    assert group.run("token", [sys.executable, "-c", "print('second')"], timeout=10).strip() == "second"
