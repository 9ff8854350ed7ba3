"""Route 5 of the threat model (docs/security.md): a workload cannot choose its own identity.

Each attack is made from outside by what the attacker controls: a real process that
names itself (`exec -a`) as another user, a pod a tenant labels in the Kubernetes API
stand-in, an image whose builder wrote a version LABEL into it, run by the real dockerd."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid

import pytest

from host_probe.recording.agent_config import ConfigInvalid, load_agent_config
from host_probe.discovery import Identity
from host_probe.discovery.containers import ContainerOptions, DockerSource
from host_probe.discovery.kubernetes import KubernetesOptions, KubernetesSource
from host_probe.discovery.labels import image_tag
from host_probe.discovery.static import StaticSource, StaticWorkload
from tests.discovery.kube_api import container, pod, pod_list

SLEEP = shutil.which("sleep")
NOBODY = 65534
SERVICE_ARGV = "checkout-server --port 8080"
NODE = "node-a"


@pytest.fixture
def renamed_processes():
    """Starts real processes that set their own argv (`exec -a`), as the given uid."""
    started: list[subprocess.Popen] = []

    def start(uid: int, command: str = "sleep 60") -> int:
        process = subprocess.Popen(["/bin/bash", "-c", f'exec -a "{SERVICE_ARGV}" {command}'], user=uid)
        started.append(process)
        deadline = time.monotonic() + 5
        while SERVICE_ARGV not in open(f"/proc/{process.pid}/cmdline", "rb").read().replace(b"\0", b" ").decode():
            assert time.monotonic() < deadline, "the process did not exec"
            time.sleep(0.01)
        return process.pid

    yield start
    for process in started:
        process.kill()
        process.wait()


def static_entry(**scope) -> StaticWorkload:
    return StaticWorkload(service="checkout", version="v41", role="baseline", **scope)


def test_a_process_renaming_itself_as_another_user_is_not_taken_into_a_service(renamed_processes):
    service = renamed_processes(0)
    impostor_as_nobody = renamed_processes(NOBODY)
    impostor_other_program = renamed_processes(0, command="tail -f /dev/null")
    source = StaticSource([static_entry(command="^checkout-server ", user="root", executable=SLEEP)])
    [workload] = source.poll()
    assert workload.identity == Identity("checkout", "v41", "baseline")
    assert service in workload.pids
    assert impostor_as_nobody not in workload.pids
    assert impostor_other_program not in workload.pids


def test_a_command_pattern_without_owner_and_executable_is_refused(tmp_path):
    config = tmp_path / "agent.yml"
    config.write_text("workloads:\n  - service: checkout\n    version: v41\n    command: '^checkout-server '\n")
    with pytest.raises(ConfigInvalid, match="command needs user and executable too: a process can rename its argv"):
        load_agent_config(config)


@pytest.mark.parametrize("scope, message", [
    ({"command": "^x", "user": "no-such-user-here", "executable": SLEEP}, "user 'no-such-user-here' is not a user"),
    ({"command": "^x", "user": 0, "executable": "sleep"}, "executable 'sleep' must be an absolute path"),
    ({"cgroup": "/sys/fs/cgroup/x", "user": 0}, "user and executable go with command"),
])
def test_static_scope_errors_name_the_field(scope, message):
    with pytest.raises(ValueError, match=message):
        static_entry(**scope)


@pytest.fixture
def kubernetes_options(kubelet, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(kubelet.token)

    def make(**overrides) -> KubernetesOptions:
        return KubernetesOptions(**{"node_name": NODE, "url": kubelet.url, "token_file": str(token_file),
                                    "ca_file": str(kubelet.cert), **overrides})

    return make


def _pod_in(make_cgroup, namespace: str, name: str, labels: dict) -> dict:
    uid, container_id = str(uuid.uuid4()), uuid.uuid4().hex + uuid.uuid4().hex
    make_cgroup(f"kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid.replace('-', '_')}.slice/"
                f"cri-containerd-{container_id}.scope")
    return pod(name, uid, NODE, labels, [container("app", "checkout:v41", container_id)], namespace=namespace)


def test_a_tenant_cannot_label_its_pod_into_another_service_or_namespace(kubelet, kubernetes_options, make_cgroup):
    claim = {"app.kubernetes.io/name": "checkout", "app.kubernetes.io/version": "v41",
             "syscall-gate.io/role": "baseline"}
    kubelet.serve(pod_list(
        _pod_in(make_cgroup, "shop", "checkout-7d9f8", claim),
        _pod_in(make_cgroup, "tenant-b", "checkout-imposter", claim),  # a namespace the operator did not list
        _pod_in(make_cgroup, "tenant-c", "checkout-imposter", claim),  # listed, for another service
    ))
    source = KubernetesSource(kubernetes_options(namespaces={"shop": ["checkout"], "tenant-c": ["reports"]}))
    assert [workload.name for workload in source.poll()] == ["shop/checkout-7d9f8/app"]


def test_a_pod_without_a_role_label_is_a_canary_not_a_baseline(kubelet, kubernetes_options, make_cgroup):
    kubelet.serve(pod_list(_pod_in(make_cgroup, "shop", "checkout-7d9f8", {"app.kubernetes.io/name": "checkout"})))
    [workload] = KubernetesSource(kubernetes_options(namespaces={"shop": ["*"]})).poll()
    assert workload.identity.role == "canary"


def test_kubernetes_discovery_without_a_namespace_list_is_refused(tmp_path):
    config = tmp_path / "agent.yml"
    config.write_text("kubernetes:\n  node_name: n1\n")
    with pytest.raises(ConfigInvalid, match="kubernetes.namespaces: Field required"):
        load_agent_config(config)


def test_a_version_label_inherited_from_the_image_is_not_identity(docker_daemon, run_container, claiming_image):
    container_record = run_container(labels={"syscall-gate.service": "web", "syscall-gate.role": "canary"},
                                     image=claiming_image)
    assert container_record["Config"]["Labels"]["org.opencontainers.image.version"] == "v3"  # merged by Docker
    source = DockerSource(ContainerOptions(socket=docker_daemon.socket))
    [workload] = [w for w in source.poll() if w.name == container_record["Id"]]
    assert workload.identity == Identity("web", image_tag(claiming_image), "canary")
    assert workload.identity.version != "v3"
