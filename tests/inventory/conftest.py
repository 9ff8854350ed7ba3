"""Inventory test helpers: real processes that hold sockets and files, started
with `python -c` and read back through take_inventory()."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PYTHON = sys.executable
# Fixed, so expected keys are exact strings (no per-run random directory name).
WORK_DIR = Path("/tmp/syscall-gate-inventory-test")

# Given to every held program: bind_free() takes a port outside the ephemeral
# range in the child itself (no window between choosing a port and binding it),
# ready() reports what it got and holds everything until its stdin closes.
PRELUDE = textwrap.dedent("""
    import json, os, socket, sys
    def bind_free(sock, host):
        for port in range(21000, 30000):
            try:
                sock.bind((host, port))
                return port
            except OSError:
                continue
        raise RuntimeError("no free port in 21000-30000")
    def ready(**info):
        print(json.dumps(dict(info, pid=os.getpid())), flush=True)
        sys.stdin.read()
""")


def ephemeral_ports() -> tuple[int, int]:
    low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    return int(low), int(high)


class Held:
    """A running program that has set up what it holds and said so on stdout."""

    def __init__(self, code: str, prefix: tuple[str, ...] = (), cwd: Path | None = None, python: str = PYTHON):
        # stdin/stdout are pipes, so the program holds no file fds but its own
        self.process = subprocess.Popen([*prefix, python, "-c", PRELUDE + textwrap.dedent(code)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, cwd=cwd)
        line = self.process.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError(f"held program failed: {self.process.stderr.read()}")
        self.info = json.loads(line)
        self.pid: int = self.info["pid"]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            stream.close()


@pytest.fixture
def hold():
    """hold(code) -> Held; every program is stopped after the test."""
    started: list[Held] = []

    def start(code: str, **kwargs) -> Held:
        held = Held(code, **kwargs)
        started.append(held)
        return held

    yield start
    for held in started:
        held.stop()


@pytest.fixture
def work_dir():
    shutil.rmtree(WORK_DIR, ignore_errors=True)
    WORK_DIR.mkdir(parents=True)
    yield WORK_DIR
    shutil.rmtree(WORK_DIR, ignore_errors=True)


def of_kinds(features: dict, *kinds: str) -> set[tuple[str, str]]:
    return {feature for feature in features if feature[0] in kinds}
