"""Accounting of what the kernel side cannot keep (issue 13, point 4): an entry an
LRU map evicted is counted as `lru_evicted`, and a thread whose clone3 flags could
not be read is neither a fork nor a tracked process (`unreadable`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.probe.conftest import PYTHON, migrated, read_profile, record_args, host_probe

PROGRAMS = Path(__file__).with_name("programs")
THREADS = 20
# bound_sockets (bpf/probe.bpf.c) keeps the address of 4096 bound sockets.
BOUND_SOCKETS_CAPACITY = 4096
SOCKETS = 5000


@pytest.fixture(scope="module")
def clone3_unreadable(tmp_path_factory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the clone3 program")
    binary = tmp_path_factory.mktemp("programs") / "clone3_unreadable"
    subprocess.run(["gcc", "-O2", "-o", str(binary), str(PROGRAMS / "clone3_unreadable.c")], check=True)
    return binary


def _record(tmp_path: Path, version: str, command: list[str]):
    db_url = migrated(f"sqlite:///{tmp_path / 'gate.db'}")
    result = host_probe(*record_args(db_url, tmp_path / "spool", version, "--", *command))
    assert result.returncode == 0, result.stderr
    return read_profile(db_url, version)


def _total(profile, kind: str, key: str) -> int:
    return sum(w.counts.get((kind, key), 0) for w in profile.windows)


def _lost(profile, reason: str) -> int:
    return sum(w.drops.get(reason, 0) for w in profile.windows)


THREADED = f"""
import threading
threads = [threading.Thread(target=sum, args=([1],)) for _ in range({THREADS})]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
"""


def test_threads_started_by_glibc_clone3_are_threads_not_forks(ebpf, tmp_path):
    # glibc (2.34+) starts every pthread with clone3, a syscall newer than bcc's table.
    profile = _record(tmp_path, "threads", [PYTHON, "-c", THREADED])
    assert _total(profile, "process", "thread") == THREADS
    assert _total(profile, "process", "fork") == 0


def test_a_thread_whose_clone3_flags_are_unreadable_is_no_fork(ebpf, tmp_path, clone3_unreadable):
    profile = _record(tmp_path, "clone3", [str(clone3_unreadable), str(THREADS), str(tmp_path / "args")])
    assert _lost(profile, "unreadable") >= THREADS
    # Neither a fork (it is a thread) nor a guessed thread: the loss says what happened.
    assert _total(profile, "process", "fork") == 0
    assert _total(profile, "process", "exit") == 1  # the program itself, never a thread taken for a process


BIND_MANY = f"""
import resource, socket
resource.setrlimit(resource.RLIMIT_NOFILE, ({SOCKETS + 100}, {SOCKETS + 100}))
sockets = []
for _ in range({SOCKETS}):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    sockets.append(s)
"""


def test_bound_sockets_beyond_the_lru_map_count_as_evicted(ebpf, tmp_path):
    profile = _record(tmp_path, "binds", [PYTHON, "-c", BIND_MANY])
    assert _total(profile, "bind", "inet:127.0.0.1:<ephemeral>") == SOCKETS
    evicted = _lost(profile, "lru_evicted")
    # The map holds at most its capacity: the rest were evicted, and each is counted.
    assert SOCKETS - BOUND_SOCKETS_CAPACITY <= evicted <= SOCKETS


def test_nothing_is_evicted_below_the_lru_maps_capacity(ebpf, tmp_path, clone3_unreadable):
    profile = _record(tmp_path, "few-binds", [PYTHON, "-c", BIND_MANY.replace(str(SOCKETS), "50", 1)])
    assert _lost(profile, "lru_evicted") == 0
