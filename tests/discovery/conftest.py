"""Fixtures of the discovery tests: real cgroup v2 directories in the runtimes' layouts."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from host_probe.discovery import DiscoveryError
from host_probe.discovery.cgroups import cgroup2_mount
from tests.support.requirements import unavailable


@pytest.fixture(scope="session")
def cgroup2_root() -> Path:
    if os.geteuid() != 0:
        unavailable("ebpf", "making cgroup directories needs root (as the probe does)")
    try:
        return cgroup2_mount()
    except DiscoveryError as exc:
        unavailable("ebpf", str(exc))


@pytest.fixture
def make_cgroup(cgroup2_root):
    """Creates directories (with their parents) under the cgroup2 mount; removes the
    ones it created after the test, deepest first, once their processes are gone."""
    created: list[Path] = []

    def make(relative: str) -> Path:
        path = cgroup2_root / relative
        missing = [p for p in [path, *path.parents] if not p.exists()]
        for directory in reversed(missing):
            directory.mkdir()
            created.append(directory)
        return path

    yield make
    for directory in reversed(created):
        deadline = time.monotonic() + 5
        while directory.exists():
            try:
                directory.rmdir()
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
