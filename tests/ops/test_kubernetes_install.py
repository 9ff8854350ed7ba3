"""The kustomize base and its overlay render offline with `kubectl kustomize`, every object
validates against the Kubernetes schemas, and the objects keep the promises the docs make:
least-privilege RBAC, the Pod Security label each namespace's pods need, probes, metrics."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "docs" / "deploy" / "kubernetes"
# The oldest Kubernetes minor the manifests target (PodDisruptionBudget policy/v1, Pod Security labels).
KUBERNETES_VERSION = "1.25"

pytestmark = pytest.mark.skipif(not shutil.which("kubectl"), reason="needs kubectl (kustomize is built in)")


def render(directory: Path) -> list[dict]:
    done = subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [document for document in yaml.safe_load_all(done.stdout) if document]


def by_kind(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


@pytest.fixture(scope="module")
def base() -> list[dict]:
    return render(KUBERNETES / "base")


@pytest.mark.parametrize("directory", ["base", "overlays/no-prometheus-operator"])
def test_every_rendered_object_validates_against_the_kubernetes_schemas(directory):
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    objects = render(KUBERNETES / directory)
    assert objects
    for document in objects:
        if document["apiVersion"].startswith("monitoring.coreos.com/"):
            # The Prometheus Operator's CRD is not in the Kubernetes schemas: its required shape here.
            assert document["spec"]["selector"]["matchLabels"] and document["spec"]["podMetricsEndpoints"]
            continue
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_the_base_holds_the_server_and_the_agent(base):
    kinds = {(o["kind"], o["metadata"]["name"]) for o in base}
    assert {("Deployment", "syscall-gate-server"), ("Service", "syscall-gate"), ("Job", "syscall-gate-db-upgrade"),
            ("PodDisruptionBudget", "syscall-gate-server"), ("DaemonSet", "syscall-gate-agent"),
            ("ClusterRole", "syscall-gate-agent"), ("Service", "syscall-gate-agent-metrics"),
            ("PodMonitor", "syscall-gate-agent")} <= kinds


def test_the_agent_may_only_list_pods_as_its_discovery_does(base):
    source = (ROOT / "host_probe" / "discovery" / "kubernetes.py").read_text()
    assert "/api/v1/pods" in source and "watch=" not in source and "get_namespaced_pod" not in source
    (role,) = by_kind(base, "ClusterRole")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]


def test_each_namespace_has_the_pod_security_level_its_pods_need(base):
    levels = {o["metadata"]["name"]: o["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
              for o in by_kind(base, "Namespace")}
    assert levels == {"syscall-gate": "restricted", "syscall-gate-agent": "privileged"}
    (agent,) = by_kind(base, "DaemonSet")
    assert agent["metadata"]["namespace"] == "syscall-gate-agent" and agent["spec"]["template"]["spec"]["hostPID"]
    for workload in by_kind(base, "Deployment") + by_kind(base, "Job"):
        pod = workload["spec"]["template"]["spec"]
        assert workload["metadata"]["namespace"] == "syscall-gate"
        assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False and context["capabilities"]["drop"] == ["ALL"]
        assert not any("hostPath" in volume for volume in pod.get("volumes", []))


def test_the_agent_is_ready_once_it_serves_metrics_and_prometheus_finds_them(base):
    (agent,) = by_kind(base, "DaemonSet")
    container = agent["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    (monitor,) = by_kind(base, "PodMonitor")
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    plain = render(KUBERNETES / "overlays" / "no-prometheus-operator")
    assert not by_kind(plain, "PodMonitor")
    (service,) = [s for s in by_kind(plain, "Service") if s["metadata"]["name"] == "syscall-gate-agent-metrics"]
    assert service["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
