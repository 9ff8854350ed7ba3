"""Accounting of what the kernel side cannot keep (issue 13, point 4): an entry an
LRU map evicted is counted as `lru_evicted`, and a thread whose clone3 arguments BPF
cannot read is still a thread (its flags come from task_newtask)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.probe.conftest import PYTHON, build_program, migrated, read_profile, record_args, host_probe

THREADS = 20
# bound_sockets (bpf/probe.bpf.c) keeps the address of 4096 bound sockets.
BOUND_SOCKETS_CAPACITY = 4096
SOCKETS = 5000


@pytest.fixture(scope="module")
def clone3_unreadable(tmp_path_factory) -> Path:
    return build_program("clone3_unreadable", tmp_path_factory)


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


def test_a_thread_whose_clone3_arguments_are_unreadable_is_still_a_thread(ebpf, tmp_path, clone3_unreadable):
    # The flags come from task_newtask, as the kernel copied them, not from the
    # syscall's arguments (on a page BPF cannot read): nothing is lost or guessed.
    profile = _record(tmp_path, "clone3", [str(clone3_unreadable), str(THREADS), str(tmp_path / "args")])
    assert _total(profile, "process", "thread") == THREADS
    assert _total(profile, "process", "fork") == 0
    assert _total(profile, "process", "exit") == 1  # the program itself, never a thread taken for a process
    assert _lost(profile, "unreadable") == 0


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
