"""Skip a test whose real part is missing -- unless CI says that part is required.

`.ci/run` sets SYSCALL_GATE_REQUIRE (ebpf, postgres, chromium, runc, arm64, docker:
every part `make setup` provides; ipv6 and netns, which CI's host has) so those
tests fail, with the reason, instead of skipping quietly. "docker" is a Docker
daemon the discovery tests can reach or start (apt: docker.io); "ipv6" an IPv6
loopback; "netns" a new network namespace (unshare -n). "fentry" is a hook of the running
kernel (host_probe.kernel.capabilities): the VM tier (scripts/test-kernels.sh) requires
it inside Debian's kernel; this host's kernel refuses them, so there they skip.
"""

from __future__ import annotations

import os

import pytest


def required_parts() -> set[str]:
    return {p.strip() for p in os.environ.get("SYSCALL_GATE_REQUIRE", "").split(",") if p.strip()}


def unavailable(part: str, reason: str):
    if part in required_parts():
        pytest.fail(f"{part} is required (SYSCALL_GATE_REQUIRE) but unavailable: {reason}", pytrace=False)
    pytest.skip(f"{part} unavailable: {reason}")
