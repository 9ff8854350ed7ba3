"""The Kubernetes source against real-format PodLists served over loopback HTTPS, with
the containers' cgroups made for real under the cgroup2 mount (the kubelet's systemd
layout) and a real process in one."""

from __future__ import annotations

import subprocess
import uuid
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlparse

import pytest

from host_probe.discovery import DiscoveryError, Identity
from host_probe.discovery.cgroups import process_cgroup
from host_probe.discovery.kubernetes import KubernetesOptions, KubernetesSource, pod_directories_under
from tests.discovery.kube_api import container, pod, pod_list

NODE = "node-a"
LABELS = {"app.kubernetes.io/name": "checkout", "app.kubernetes.io/version": "v41", "syscall-gate.io/role": "canary"}
CLAIMS = {"SYSCALL_GATE_SERVICE": "payments", "SYSCALL_GATE_VERSION": "v999", "SYSCALL_GATE_ROLE": "baseline"}


@pytest.fixture
def options(kubelet, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(kubelet.token + "\n")

    def make(**overrides) -> KubernetesOptions:
        settings = {"node_name": NODE, "url": kubelet.url, "token_file": str(token_file),
                    "ca_file": str(kubelet.cert), "namespaces": {"shop": ["*"]}, **overrides}
        return KubernetesOptions(**settings)

    return make


@pytest.fixture
def pod_cgroup(make_cgroup):
    """The kubelet's (systemd driver) cgroup of a container; its path."""
    def make(pod_uid: str, container_id: str, qos: str = "burstable"):
        return make_cgroup(f"kubepods.slice/kubepods-{qos}.slice/kubepods-{qos}-pod{pod_uid.replace('-', '_')}.slice/"
                           f"cri-containerd-{container_id}.scope")
    return make


@pytest.fixture
def process_in():
    """Starts a real process (whose environment claims another identity) in a cgroup."""
    started = []

    def start(cgroup) -> subprocess.Popen:
        process = subprocess.Popen(["sleep", "60"], env=CLAIMS)
        started.append(process)
        (cgroup / "cgroup.procs").write_text(str(process.pid))
        return process

    yield start
    for process in started:
        process.kill()
        process.wait()


def ids() -> tuple[str, str]:
    """A pod uid and a container id, as the API server and containerd make them."""
    return str(uuid.uuid4()), uuid.uuid4().hex + uuid.uuid4().hex


def by_name(workloads) -> dict:
    return {workload.name: workload for workload in workloads}


def test_running_containers_of_this_nodes_labelled_pods_are_watched(kubelet, options, pod_cgroup, process_in):
    uid, web_id = ids()
    _, starting_id = ids()
    other_uid, other_id = ids()
    bare_uid, bare_id = ids()
    web_cgroup = pod_cgroup(uid, web_id)
    process = process_in(web_cgroup)
    pod_cgroup(other_uid, other_id)
    pod_cgroup(bare_uid, bare_id)
    kubelet.serve(pod_list(
        pod("checkout-7d9f8", uid, NODE, LABELS, [container("web", "checkout:v41", web_id, env=CLAIMS),
                                                  container("warmup", "checkout:v41", starting_id, running=False)]),
        pod("checkout-x2k4p", other_uid, "node-b", LABELS, [container("web", "checkout:v41", other_id)]),
        pod("unlabelled-q8w2e", bare_uid, NODE, {"app": "checkout"}, [container("web", "checkout:v41", bare_id)]),
    ))
    workloads = by_name(KubernetesSource(options()).poll())
    assert list(workloads) == ["shop/checkout-7d9f8/web"]
    workload = workloads["shop/checkout-7d9f8/web"]
    assert workload.source == "kubernetes"
    assert workload.identity == Identity(service="checkout", version="v41", role="canary")
    assert workload.cgroup == str(web_cgroup) == str(process_cgroup(process.pid))
    assert workload.pids == frozenset()
    assert kubelet.requests == ["/pods"]


def test_the_api_server_is_asked_for_this_nodes_pods_only(kubelet, options, pod_cgroup):
    uid, web_id = ids()
    other_uid, other_id = ids()
    pod_cgroup(uid, web_id)
    pod_cgroup(other_uid, other_id)
    kubelet.serve(pod_list(  # an API server that ignored the selector still has its answer filtered
        pod("checkout-7d9f8", uid, NODE, LABELS, [container("web", "checkout:v41", web_id)]),
        pod("checkout-x2k4p", other_uid, "node-b", LABELS, [container("web", "checkout:v41", other_id)]),
    ))
    workloads = by_name(KubernetesSource(options(api="apiserver")).poll())
    assert list(workloads) == ["shop/checkout-7d9f8/web"]
    request = urlparse(kubelet.requests[0])
    assert request.path == "/api/v1/pods"
    assert parse_qs(request.query) == {"fieldSelector": [f"spec.nodeName={NODE}"]}


def test_label_names_are_configurable(kubelet, options, pod_cgroup):
    uid, container_id = ids()
    pod_cgroup(uid, container_id)
    labels = {"team.example.com/service": "billing", "team.example.com/release": "2.1.0",
              "team.example.com/gate-role": "canary", **LABELS}
    kubelet.serve(pod_list(pod("billing-5c6d7", uid, NODE, labels, [container("api", "billing:2.0", container_id)])))
    source = KubernetesSource(options(name_label="team.example.com/service", version_label="team.example.com/release",
                                      role_label="team.example.com/gate-role"))
    [workload] = source.poll()
    assert workload.identity == Identity(service="billing", version="2.1.0", role="canary")


def test_missing_labels_skip_the_pod_or_fall_back(kubelet, options, pod_cgroup):
    """No name label: not watched. No version label: the container's image tag. No role label: the default role."""
    unnamed_uid, unnamed_id = ids()
    uid, container_id = ids()
    pod_cgroup(unnamed_uid, unnamed_id)
    pod_cgroup(uid, container_id, qos="besteffort")
    kubelet.serve(pod_list(
        pod("no-name-8f7g6", unnamed_uid, NODE, {"app.kubernetes.io/version": "v1"},
            [container("web", "web:v1", unnamed_id)]),
        pod("checkout-7d9f8", uid, NODE, {"app.kubernetes.io/name": "checkout"},
            [container("web", "registry.example.com:5000/shop/checkout:v42", container_id)], qos_class="BestEffort"),
    ))
    [workload] = KubernetesSource(options(default_role="baseline")).poll()
    assert workload.identity == Identity(service="checkout", version="v42", role="baseline")


def test_a_debug_container_started_in_a_pod_is_watched_as_that_pod(kubelet, options, pod_cgroup):
    uid, web_id = ids()
    _, debug_id = ids()
    pod_cgroup(uid, web_id)
    pod_cgroup(uid, debug_id)
    kubelet.serve(pod_list(pod("checkout-7d9f8", uid, NODE, LABELS, [container("web", "checkout:v41", web_id)],
                               ephemeral=[container("debugger-h8x2q", "busybox:1.36", debug_id)])))
    workloads = by_name(KubernetesSource(options()).poll())
    assert set(workloads) == {"shop/checkout-7d9f8/web", "shop/checkout-7d9f8/debugger-h8x2q"}
    assert workloads["shop/checkout-7d9f8/debugger-h8x2q"].identity == Identity("checkout", "v41", "canary")


def test_pods_not_running_and_containers_without_a_cgroup_are_skipped(kubelet, options, pod_cgroup):
    uid, container_id = ids()
    pending_uid, pending_id = ids()
    pod_cgroup(pending_uid, pending_id)
    kubelet.serve(pod_list(
        pod("checkout-7d9f8", uid, NODE, LABELS, [container("web", "checkout:v41", container_id)]),  # no cgroup yet
        pod("checkout-p3n4d", pending_uid, NODE, LABELS, [container("web", "checkout:v41", pending_id)],
            phase="Pending"),
    ))
    assert KubernetesSource(options()).poll() == []


def test_the_pods_whose_containers_the_kernel_is_to_register_are_named_before_they_run(kubelet, options):
    # A pending pod's containers are not made yet: its directory is handed to the kernel
    # (agent: set_pod_rules), so each is counted from its first process.
    pending, running, elsewhere, unlabelled, ended, other_node = (ids()[0] for _ in range(6))
    kubelet.serve(pod_list(
        pod("checkout-p3n4d", pending, NODE, LABELS, [container("web", "checkout:v41", "", running=False)], phase="Pending",
            qos_class="BestEffort"),
        pod("checkout-7d9f8", running, NODE, LABELS, [container("web", "checkout:v41", ids()[1])],
            qos_class="Guaranteed"),
        pod("ledger-1b2", elsewhere, NODE, {"app.kubernetes.io/name": "ledger"}, [], namespace="finance"),
        pod("debug", unlabelled, NODE, {}, []),
        pod("checkout-old", ended, NODE, LABELS, [], phase="Succeeded"),
        pod("checkout-b", other_node, "node-b", LABELS, []),
    ))
    source = KubernetesSource(options())  # the default parents: both cgroup drivers' QoS levels
    source.poll()
    pods = source.pod_cgroups
    assert pods.watched == {
        f"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{pending.replace('-', '_')}.slice",
        f"/kubepods/besteffort/pod{pending}",
        f"/kubepods.slice/kubepods-pod{running.replace('-', '_')}.slice", f"/kubepods/pod{running}"}
    # every container of it runs: what else was made in it is no container (its sandbox)
    started = datetime(2026, 11, 27, 10, 0, 2, tzinfo=timezone.utc).timestamp()  # its container's startedAt
    assert pods.settled == {f"/kubepods.slice/kubepods-pod{running.replace('-', '_')}.slice": started,
                            f"/kubepods/pod{running}": started}
    assert {path for path in pods.not_watched if "kubepods.slice" in path} == {
        f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid.replace('-', '_')}.slice"
        for uid in (elsewhere, unlabelled)}
    assert KubernetesSource(options(pod_cgroup_parents=[])).pod_cgroups.parents == set()
    given = KubernetesSource(options(pod_cgroup_parents=["kubepods.slice", "/kubepods.slice/kubepods-besteffort.slice/"]))
    assert given.pod_cgroups.parents == {"/kubepods.slice", "/kubepods.slice/kubepods-besteffort.slice"}


def test_a_pods_directory_is_named_under_each_parent_that_holds_its_qos_class():
    kind = {"/kubelet.slice/kubelet-kubepods.slice", "/kubelet.slice/kubelet-kubepods.slice/"
            "kubelet-kubepods-burstable.slice", "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice"}
    uid = "0f9d7c1e-4b2a-4d6e-9a8b-3c5d7e9f1a2b"
    assert pod_directories_under(kind, uid, "Burstable") == {
        "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/"
        "kubelet-kubepods-burstable-pod0f9d7c1e_4b2a_4d6e_9a8b_3c5d7e9f1a2b.slice"}
    assert pod_directories_under(kind, uid, "Guaranteed") == {
        "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod0f9d7c1e_4b2a_4d6e_9a8b_3c5d7e9f1a2b.slice"}
    assert len(pod_directories_under(kind, uid)) == 3  # no class known: under every parent
    assert pod_directories_under({"/kubepods", "/kubepods/besteffort"}, uid, "BestEffort") == {
        f"/kubepods/besteffort/pod{uid}"}


def test_no_pods_at_all(kubelet, options):
    kubelet.serve({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": None})
    assert KubernetesSource(options()).poll() == []


def test_a_refused_token_is_a_discovery_error(kubelet, options, tmp_path):
    wrong = tmp_path / "wrong-token"
    wrong.write_text("not-the-token")
    with pytest.raises(DiscoveryError) as raised:
        KubernetesSource(options(token_file=str(wrong))).poll()
    assert str(raised.value) == (f"kubernetes: the kubelet at {kubelet.url}/pods refused the request (HTTP 401): "
                                 f"check token_file ({wrong}) and that its account may get nodes/proxy")


@pytest.mark.parametrize("body, message", [
    (b'{"kind": "PodList", "items": [', "did not answer a PodList: Expecting value"),
    (b"<html>kubelet</html>", "did not answer a PodList: Expecting value"),
    (b'{"kind": "Status", "status": "Failure"}', "did not answer a PodList: kind: Input should be 'PodList'"),
    (b'{"kind": "PodList", "items": [{"metadata": {"name": "web"}}]}',
     "did not answer a PodList: items.0.metadata.uid: Field required"),
])
def test_a_malformed_answer_is_a_discovery_error(kubelet, options, body, message):
    kubelet.answer.body = body
    with pytest.raises(DiscoveryError, match=f"^kubernetes: the kubelet at {kubelet.url}/pods {message}"):
        KubernetesSource(options()).poll()


def test_a_server_error_is_a_discovery_error(kubelet, options):
    kubelet.answer.status, kubelet.answer.body = 500, b"Internal error\noccurred"
    with pytest.raises(DiscoveryError, match=r"answered HTTP 500: Internal error occurred$"):
        KubernetesSource(options()).poll()


def test_an_untrusted_certificate_is_a_discovery_error(options):
    with pytest.raises(DiscoveryError, match="cannot reach the kubelet at .*CERTIFICATE_VERIFY_FAILED"):
        KubernetesSource(options(ca_file="")).poll()


def test_a_missing_token_file_is_a_discovery_error(options, tmp_path):
    with pytest.raises(DiscoveryError, match=f"cannot read token_file {tmp_path / 'absent'}: No such file"):
        KubernetesSource(options(token_file=str(tmp_path / "absent"))).poll()


def test_nobody_listening_is_a_discovery_error(options):
    with pytest.raises(DiscoveryError, match="^kubernetes: cannot reach the kubelet at https://127.0.0.1:9/pods"):
        KubernetesSource(options(url="https://127.0.0.1:9", timeout_seconds=2)).poll()


def test_default_urls():
    shop = {"shop": ["*"]}
    assert KubernetesOptions(node_name=NODE, namespaces=shop).pods_url == f"https://{NODE}:10250/pods"
    assert (KubernetesOptions(node_name=NODE, namespaces=shop, api="apiserver").pods_url
            == "https://kubernetes.default.svc/api/v1/pods")
