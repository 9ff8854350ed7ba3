"""`gate-server export-seccomp`: stable syscalls of all windows, never one-offs."""

from __future__ import annotations

import json

from gate_server.cli import main
from gate_server.services.seccomp import ALWAYS_ALLOWED
from tests.ops.seed import seed_recording

STEADY = {("syscall", "read"): 400, ("syscall", "write"): 380, ("syscall", "epoll_wait"): 90,
          ("syscall", "openat"): 12, ("file", "/etc/hosts:r"): 1}


def _windows(count: int) -> list[dict]:
    return [dict(STEADY) for _ in range(count)]


def test_profile_allows_stable_syscalls_of_all_recordings_and_excludes_one_offs(engine, migrated_url, tmp_path, capsys):
    first = _windows(60)
    first[7][("syscall", "ptrace")] = 1  # one window of 120: a one-off
    second = _windows(60)
    # accept4 only in the second run: learning from one run would miss it.
    for window in second[:20]:
        window[("syscall", "accept4")] = 3
    seed_recording(engine, "web", "v1", first)
    seed_recording(engine, "web", "v1", second)
    seed_recording(engine, "web", "v2", [{("syscall", "mprotect"): 5}] * 10)  # another version

    output = tmp_path / "web-v1.json"
    code = main(["export-seccomp", "--service", "web", "--version", "v1", "--output", str(output),
                 "--min-fraction", "0.05", "--db", migrated_url])

    assert code == 0
    profile = json.loads(output.read_text())
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    assert profile["defaultErrnoRet"] == 1
    assert profile["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    [rule] = profile["syscalls"]
    assert rule["action"] == "SCMP_ACT_ALLOW"
    assert rule["names"] == sorted(rule["names"])
    assert {"read", "write", "epoll_wait", "openat", "accept4"} <= set(rule["names"])
    assert set(ALWAYS_ALLOWED) <= set(rule["names"])
    assert "ptrace" not in rule["names"]
    assert "mprotect" not in rule["names"]
    assert "ptrace" in capsys.readouterr().err


def test_min_fraction_decides_what_is_a_one_off(engine, migrated_url, capsys):
    windows = _windows(10)
    windows[0][("syscall", "ptrace")] = 1  # 1 window of 10
    seed_recording(engine, "web", "v1", windows)

    assert main(["export-seccomp", "--service", "web", "--version", "v1", "--min-fraction", "0.1",
                 "--db", migrated_url]) == 0
    assert "ptrace" in json.loads(capsys.readouterr().out)["syscalls"][0]["names"]
    assert main(["export-seccomp", "--service", "web", "--version", "v1", "--min-fraction", "0.2",
                 "--db", migrated_url]) == 0
    assert "ptrace" not in json.loads(capsys.readouterr().out)["syscalls"][0]["names"]


def test_unknown_version_and_bad_fraction_exit_2(engine, migrated_url, capsys):
    assert main(["export-seccomp", "--service", "web", "--version", "nope", "--db", migrated_url]) == 2
    assert "no windows recorded" in capsys.readouterr().err
    assert main(["export-seccomp", "--service", "web", "--version", "v1", "--min-fraction", "2",
                 "--db", migrated_url]) == 2
    assert "--min-fraction" in capsys.readouterr().err
