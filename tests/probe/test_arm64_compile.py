"""The probe compiles for arm64: bcc's ARCH=arm64 against Debian's arm64 kernel
headers (fetched by `make setup`), with arm64's own syscall numbers. Compiled,
not loaded: there is no arm64 kernel here. This keeps the aarch64 branch of
record_detail() honest; what it reads at run time is still unverified."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from host_probe.kernel import loader
from tests.probe.conftest import REPO
from tests.support.requirements import unavailable

ARM64_HEADERS = Path("/var/cache/syscall-gate/arm64-headers/merged")


@pytest.fixture
def arm64_headers(ebpf) -> Path:
    if not (ARM64_HEADERS / ".complete").exists():
        unavailable("arm64", f"no arm64 kernel headers at {ARM64_HEADERS} (`make setup` fetches them)")
    return ARM64_HEADERS


def compile_probe(source: Path, headers: Path | None = None, file_hook: str = "sys_enter") -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("ARCH", None)
    env.pop("BCC_KERNEL_SOURCE", None)
    if headers:
        env.update(ARCH="arm64", BCC_KERNEL_SOURCE=str(headers))
    args = [sys.executable, "-m", "tests.probe.cross_compile", str(source)] + ([str(headers)] if headers else []) \
        + ["--file-hook", file_hook]
    return subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=REPO, env=env)


def _errors(result: subprocess.CompletedProcess) -> str:
    return "\n".join(line for line in result.stderr.splitlines() if "error" in line.lower())[-2000:]


def test_probe_compiles_for_arm64_with_its_syscall_numbers(arm64_headers):
    arm64 = compile_probe(loader.PROBE_SOURCE, arm64_headers)
    assert arm64.returncode == 0, _errors(arm64)
    numbers_line, size_line = arm64.stdout.strip().splitlines()[-2:]
    numbers = dict(item.split("=") for item in numbers_line.split())
    # arm64 has only the *at forms: open and creat must not be probed there
    assert numbers["open"] == numbers["creat"] == "-1"
    assert int(numbers["openat"]) > 0 and int(numbers["execve"]) > 0
    host = compile_probe(loader.PROBE_SOURCE)
    assert host.returncode == 0, _errors(host)
    # a different argument-register branch and syscall numbers: different code
    assert int(size_line) != int(host.stdout.strip().splitlines()[-1])


def test_the_arm64_compile_reads_the_arm64_branch(arm64_headers, tmp_path):
    source = loader.PROBE_SOURCE.read_text()
    assert source.count("copy.orig_x0") == 1
    broken = tmp_path / "probe.bpf.c"
    broken.write_text(source.replace("copy.orig_x0", "copy.no_such_register"))
    assert compile_probe(broken).returncode == 0, "the x86_64 build must not see the arm64 branch"
    result = compile_probe(broken, arm64_headers)
    assert result.returncode != 0
    assert "no_such_register" in result.stderr
