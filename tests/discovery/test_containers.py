"""The containers source against a real Docker daemon (in its cgroup v1 and v2 modes)
and real containers: identity from labels only, every container's cgroup and init pid."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest

from host_probe.discovery import DiscoveryError, Identity
from host_probe.discovery.cgroups import process_cgroup
from host_probe.discovery.containers import ContainerOptions, DockerSource
from host_probe.discovery.labels import image_tag
from tests.discovery.dockerd import IMAGE_TAG

CLAIMS = {"SYSCALL_GATE_SERVICE": "payments", "SYSCALL_GATE_VERSION": "v999", "SYSCALL_GATE_ROLE": "baseline"}


def source_for(daemon, **options) -> DockerSource:
    return DockerSource(ContainerOptions(socket=daemon.socket, **options))


def watched(source: DockerSource, *containers: dict) -> dict:
    """The workloads of `containers` in a poll (the host daemon may run others)."""
    ids = {container["Id"] for container in containers}
    return {workload.name: workload for workload in source.poll() if workload.name in ids}


def test_labelled_container_is_watched_in_its_cgroup_and_by_its_init_pid(docker_daemon, run_container):
    container = run_container(labels={"syscall-gate.service": "web", "syscall-gate.role": "canary",
                                      "org.opencontainers.image.version": "v42"})
    workload = watched(source_for(docker_daemon), container)[container["Id"]]
    init_pid = container["State"]["Pid"]
    assert workload.source == "docker"
    assert workload.identity == Identity(service="web", version="v42", role="canary")
    assert workload.pids == frozenset({init_pid})
    assert workload.cgroup == str(process_cgroup(init_pid))
    assert str(init_pid) in (process_cgroup(init_pid) / "cgroup.procs").read_text().split()


def test_environment_cannot_claim_an_identity(docker_daemon, run_container):
    container = run_container(labels={"syscall-gate.service": "web", "syscall-gate.role": "canary"},
                              environment=CLAIMS)
    workload = watched(source_for(docker_daemon), container)[container["Id"]]
    assert workload.identity == Identity(service="web", version=IMAGE_TAG, role="canary")


def test_container_without_the_service_label_is_not_watched(docker_daemon, run_container):
    unlabelled = run_container(environment=CLAIMS)
    other_labels = run_container(labels={"syscall-gate.role": "canary", "app": "web"})
    assert watched(source_for(docker_daemon), unlabelled, other_labels) == {}


def test_an_image_cannot_claim_a_service_or_role(docker_daemon, run_container, claiming_image):
    unlabelled = run_container(image=claiming_image)
    labelled = run_container(labels={"syscall-gate.service": "web"}, image=claiming_image)
    assert unlabelled["Config"]["Labels"]["syscall-gate.service"] == "payments"  # Docker merged the image's LABELs
    assert labelled["Config"]["Labels"]["syscall-gate.role"] == "baseline"
    workloads = watched(source_for(docker_daemon, default_role="canary"), unlabelled, labelled)
    assert list(workloads) == [labelled["Id"]]
    assert workloads[labelled["Id"]].identity == Identity(service="web", version=image_tag(claiming_image),
                                                          role="canary")


def test_role_defaults_to_the_configured_role(docker_daemon, run_container):
    container = run_container(labels={"syscall-gate.service": "web"})
    workload = watched(source_for(docker_daemon, default_role="canary"), container)[container["Id"]]
    assert workload.identity == Identity(service="web", version=IMAGE_TAG, role="canary")


def test_label_names_are_configurable(docker_daemon, run_container):
    container = run_container(labels={"com.example.service": "billing", "com.example.role": "canary",
                                      "com.example.version": "2.1.0", "syscall-gate.service": "web"})
    source = source_for(docker_daemon, service_label="com.example.service", role_label="com.example.role",
                        version_label="com.example.version")
    workload = watched(source, container)[container["Id"]]
    assert workload.identity == Identity(service="billing", version="2.1.0", role="canary")


def test_a_role_that_is_not_a_role_is_not_watched(docker_daemon, run_container):
    container = run_container(labels={"syscall-gate.service": "web", "syscall-gate.role": "prod"})
    assert watched(source_for(docker_daemon), container) == {}


def test_stopped_container_disappears_from_the_poll(docker_daemon, run_container):
    staying = run_container(labels={"syscall-gate.service": "web"})
    stopping = run_container(labels={"syscall-gate.service": "web", "syscall-gate.role": "canary"})
    source = source_for(docker_daemon)
    assert set(watched(source, staying, stopping)) == {staying["Id"], stopping["Id"]}
    docker_daemon.client().stop(stopping["Id"], timeout=0)
    assert set(watched(source, staying, stopping)) == {staying["Id"]}


def test_missing_socket_is_a_one_line_discovery_error(tmp_path):
    source = DockerSource(ContainerOptions(socket=str(tmp_path / "docker.sock")))
    with pytest.raises(DiscoveryError) as raised:
        source.poll()
    message = str(raised.value)
    assert "\n" not in message
    assert message == (f"docker: no Engine API socket at {tmp_path / 'docker.sock'}: "
                       "is dockerd running? (containers.socket names it)")


def test_a_socket_nobody_answers_on_is_a_discovery_error(tmp_path):
    import socket

    path = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX) as bound_but_not_listening:
        bound_but_not_listening.bind(str(path))
        with pytest.raises(DiscoveryError, match=f"^docker: the Engine API at {path} failed: "):
            DockerSource(ContainerOptions(socket=str(path), timeout_seconds=2)).poll()


@pytest.mark.parametrize("reference, version", [
    ("localhost:5000/syscall-gate-busybox:v7", "v7"),
    ("registry.example.com:443/team/app", "latest"),
    ("app", "latest"),
    ("app@sha256:0123abcd", "sha256:0123abcd"),
    ("app:1.2.3@sha256:0123abcd", "1.2.3"),
])
def test_version_falls_back_to_the_image_tag(reference, version):
    assert image_tag(reference) == version


def test_unknown_option_is_refused():
    with pytest.raises(ValueError, match="service_lable"):
        ContainerOptions(service_lable="x")


def following(daemon, **options) -> tuple[DockerSource, threading.Event]:
    """A source that follows the daemon's creations; the event is set at each piece of news."""
    news = threading.Event()
    source = source_for(daemon, **options)
    source.follow(news.set)
    return source, news


def test_a_created_container_is_expected_where_its_cgroup_will_be_made(docker_daemon, busybox_image):
    label = f"syscall-gate-test.{uuid.uuid4().hex[:8]}.service"  # not another test's containers
    source, news = following(docker_daemon, service_label=label)
    client = docker_daemon.client()
    container = client.create_container(busybox_image, ["/bin/sleep", "600"], labels={label: "web"},
                                        host_config=client.create_host_config(network_mode="none"))
    try:
        assert news.wait(10), "no news of the creation"
        [expected] = source.expected
        assert expected.key == f"docker:{container['Id']}"
        assert expected.identity == Identity(service="web", version=IMAGE_TAG, role="baseline")
        assert not Path(expected.cgroup).exists()
        client.start(container["Id"])
        [running] = source.poll()
        assert running.cgroup == expected.cgroup  # the directory runc made is the one predicted
        assert source.expected == []  # it runs: a workload now, no longer expected
    finally:
        source.close()
        client.remove_container(container["Id"], force=True)


def test_a_container_whose_image_claims_the_service_is_not_expected(docker_daemon, claiming_image):
    source, news = following(docker_daemon)
    client = docker_daemon.client()
    container = client.create_container(claiming_image, ["/bin/sleep", "600"],
                                        host_config=client.create_host_config(network_mode="none"))
    try:
        time.sleep(1)
        assert container["Id"] not in {w.name for w in source.expected}
        assert source.poll() is not None
        assert container["Id"] not in {w.name for w in source.expected}
    finally:
        source.close()
        client.remove_container(container["Id"], force=True)


def test_a_broken_event_stream_leaves_polling_and_says_so(docker_daemon, run_container):
    container = run_container(labels={"syscall-gate.service": "web"})
    source, _ = following(docker_daemon)
    try:
        source.follower.retry_seconds = 0.5
        source.follower._stream.close()  # the connection to the daemon breaks
        deadline = time.monotonic() + 5
        while not source.poll() or not source.problems:
            assert time.monotonic() < deadline, "the broken stream was not reported"
            time.sleep(0.05)
        assert container["Id"] in {w.name for w in source.poll()}
        [problem] = source.problems
        assert problem.startswith(f"docker: the Engine API's event stream at {docker_daemon.socket} failed (")
        assert "new containers are found by polling only" in problem
        deadline = time.monotonic() + 5
        while source.poll() is not None and source.problems:  # followed again after the retry
            assert time.monotonic() < deadline, source.problems
            time.sleep(0.1)
    finally:
        source.close()
