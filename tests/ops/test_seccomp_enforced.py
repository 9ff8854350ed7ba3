"""The exported profile, enforced by a real OCI runtime: runc runs a busybox container
under it. What the version was seen doing runs; what it was never seen doing gets EPERM.

The syscalls of each workload are learned with strace (the whole `runc run`, so the
runtime's own calls after the filter is loaded are in the set too) and stored as windows
through the real writer; the profile is whatever `gate-server export-seccomp` makes of them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from gate_server.cli import main
from gate_server.services.seccomp import ALWAYS_ALLOWED
from tests.ops.seed import seed_recording
from tests.support.requirements import unavailable

WRITE_AND_READ = "echo hello > /tmp/out && /bin/busybox cat /tmp/out"
AND_CHMOD = WRITE_AND_READ + " && /bin/busybox chmod 600 /tmp/out && echo chmodded"

pytestmark = pytest.mark.slow


def _static_busybox() -> str:
    path = shutil.which("busybox") or ""
    description = subprocess.run(["file", "-L", path], capture_output=True, text=True).stdout if path else ""
    return path if "statically linked" in description else ""


@pytest.fixture
def bundle(tmp_path) -> Path:
    if os.geteuid() != 0 or not shutil.which("runc") or not shutil.which("strace") or not _static_busybox():
        unavailable("runc", "needs root, runc, strace and a static busybox (apt: runc busybox-static strace)")
    rootfs = tmp_path / "bundle" / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    (rootfs / "tmp").mkdir()
    shutil.copy(_static_busybox(), rootfs / "bin" / "busybox")
    subprocess.run(["runc", "spec"], cwd=rootfs.parent, check=True)
    return rootfs.parent


def _run(bundle: Path, script: str, seccomp: dict | None = None, trace: Path | None = None):
    config = json.loads((bundle / "config.json").read_text())
    config["process"].update(terminal=False, args=["/bin/busybox", "sh", "-c", script])
    config["root"]["readonly"] = False
    config["linux"].pop("seccomp", None)
    if seccomp:
        config["linux"]["seccomp"] = seccomp
    (bundle / "config.json").write_text(json.dumps(config))
    command = ["runc", "run", f"sg-{uuid.uuid4().hex[:12]}"]
    if trace:
        command = ["strace", "-f", "-qq", "-c", "-o", str(trace)] + command
    return subprocess.run(command, cwd=bundle, capture_output=True, text=True, timeout=60)


def _learn(bundle: Path, script: str, tmp_path: Path) -> set[str]:
    trace = tmp_path / f"trace-{uuid.uuid4().hex[:6]}.txt"
    result = _run(bundle, script, trace=trace)
    assert result.returncode == 0, result.stderr
    names = set()
    for line in trace.read_text().splitlines():
        fields = line.split()
        if fields and fields[0][0].isdigit() and fields[-1] != "total":
            names.add(fields[-1])
    return names


def test_exported_profile_runs_what_was_seen_and_denies_the_rest(engine, migrated_url, bundle, tmp_path, capsys):
    # Several runs, as the product learns across recordings: the Go runtime inside runc
    # does not make exactly the same calls every time.
    usual = set().union(*(_learn(bundle, WRITE_AND_READ, tmp_path) for _ in range(3)))
    chmod_only = _learn(bundle, AND_CHMOD, tmp_path) - usual - set(ALWAYS_ALLOWED)
    assert chmod_only, "chmod should need a syscall the plain workload never makes"
    # 20 windows of the usual behaviour; chmod happened once (a one-off: 1 window in 21).
    seed_recording(engine, "box", "v1", [{("syscall", name): 5 for name in usual} for _ in range(20)]
                   + [{("syscall", name): 1 for name in usual | chmod_only}])

    def export(min_fraction: str) -> dict:
        output = tmp_path / f"profile-{min_fraction}.json"
        assert main(["export-seccomp", "--service", "box", "--version", "v1", "--min-fraction", min_fraction,
                     "--output", str(output), "--db", migrated_url]) == 0
        return json.loads(output.read_text())

    strict = export("0.1")
    assert not chmod_only & set(strict["syscalls"][0]["names"])
    ran = _run(bundle, WRITE_AND_READ, seccomp=strict)
    assert ran.returncode == 0 and ran.stdout.strip() == "hello", ran.stderr

    denied = _run(bundle, AND_CHMOD, seccomp=strict)
    assert denied.returncode != 0 and "chmodded" not in denied.stdout
    assert "Operation not permitted" in denied.stderr

    # Counting the one-off in (it was seen in 1 of 21 windows) lets chmod through.
    lenient = export("0.04")
    allowed = _run(bundle, AND_CHMOD, seccomp=lenient)
    assert allowed.returncode == 0 and "chmodded" in allowed.stdout, allowed.stderr
