"""The evaluation recorder waits for the probe to launch the service it records (the probe
compiles first: a minute or more under the VM's emulation) before the service's ready timeout."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from bench.evaluation_record import RecordingFailed, wait_for_launch


def test_waits_until_the_process_has_started_a_child_and_not_before():
    # as `record -- CMD` does: work first (the compile), then the command
    parent = subprocess.Popen([sys.executable, "-c",
                               "import subprocess, sys, time; time.sleep(1.0); "
                               "subprocess.run([sys.executable, '-c', 'import time; time.sleep(5)'])"])
    try:
        began = time.monotonic()
        wait_for_launch(parent, timeout=20)
        assert 1.0 <= time.monotonic() - began < 10
    finally:
        parent.kill()
        parent.wait()


def test_a_probe_that_exits_before_it_launches_anything_is_a_failed_recording():
    parent = subprocess.Popen([sys.executable, "-c", "raise SystemExit(2)"])
    with pytest.raises(RecordingFailed, match="exited 2 before it started the service"):
        wait_for_launch(parent, timeout=20)
