"""Fixtures of the discovery and agent tests (a pytest plugin, registered in
tests/conftest.py): real Docker daemons (cgroup v1 and v2 modes) and their
containers, real cgroup v2 directories, the Kubernetes API stand-in."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

from host_probe.discovery import DiscoveryError
from host_probe.discovery.cgroups import cgroup2_mount
from tests.discovery.dockerd import (IMAGE_REPOSITORY, DaemonFailed, Dockerd, ensure_busybox_image,
                                    static_busybox)
from tests.discovery.kube_api import PodListServer, self_signed_certificate
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


DAEMON_MODES = ["host", "cgroup2-namespace"]
IMAGE_CLAIMS = {"syscall-gate.service": "payments", "syscall-gate.role": "baseline",
                "org.opencontainers.image.version": "v3"}


@pytest.fixture(scope="session", params=DAEMON_MODES)
def docker_daemon(request, tmp_path_factory) -> Dockerd:
    """The host's Docker daemon, and one in its cgroup v2 mode (a hybrid host only)."""
    if os.geteuid() != 0 or not static_busybox():
        unavailable("docker", "needs root and a static busybox for the image (apt: busybox-static)")
    log_dir = tmp_path_factory.mktemp("dockerd")
    if request.param == "host":
        daemon = Dockerd.host(log_dir)
    else:
        cgroup2_root = request.getfixturevalue("cgroup2_root")
        if cgroup2_root == Path("/sys/fs/cgroup"):
            pytest.skip("this host's cgroup2 mount is /sys/fs/cgroup: the host daemon already runs in v2 mode")
        daemon = Dockerd.in_cgroup2_namespace(cgroup2_root, log_dir)
    try:
        daemon.start()
    except DaemonFailed as exc:
        unavailable("docker", str(exc))
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session")
def kubelet_certificate(tmp_path_factory) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path_factory.mktemp("kubelet-tls"))


@pytest.fixture
def kubelet(kubelet_certificate) -> PodListServer:
    """The Kubernetes API stand-in (kubelet /pods and the API server's pod list) over loopback HTTPS."""
    server = PodListServer(*kubelet_certificate, token=f"token-{uuid.uuid4().hex}")
    yield server
    server.close()


@pytest.fixture(scope="session")
def busybox_image(docker_daemon) -> str:
    return ensure_busybox_image(docker_daemon.client())


@pytest.fixture(scope="session")
def claiming_image(docker_daemon) -> str:
    """An image whose builder wrote an identity into its LABELs."""
    return ensure_busybox_image(docker_daemon.client(), f"{IMAGE_REPOSITORY}-claims", IMAGE_CLAIMS)


@pytest.fixture
def run_container(docker_daemon, busybox_image):
    """Starts a sleeping busybox container with the given labels and environment; returns
    its inspect record. Every container is removed after the test."""
    client = docker_daemon.client()
    started: list[str] = []

    def run(labels: dict[str, str] | None = None, environment: dict[str, str] | None = None,
            image: str = busybox_image, command: list[str] | None = None) -> dict:
        container = client.create_container(image, command or ["/bin/sleep", "600"], labels=labels or {},
                                            environment=environment or {},
                                            host_config=client.create_host_config(network_mode="none"))
        started.append(container["Id"])
        client.start(container["Id"])
        return client.inspect_container(container["Id"])

    yield run
    for container_id in started:
        client.remove_container(container_id, force=True)
