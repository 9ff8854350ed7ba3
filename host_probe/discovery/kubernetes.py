"""The Kubernetes source: the running containers of this node's pods, identified by pod labels.

It reads one PodList per poll, from the kubelet (`GET https://<node>:10250/pods`)
or from the API server (`GET /api/v1/pods?fieldSelector=spec.nodeName=<node>`),
with a bearer token read from a file on every poll (projected service-account
tokens rotate) and a CA file. Identity is read from the pod's labels, which the
pod's processes cannot change, and never from any process's environment; the
version falls back to the tag of the container's image in the pod spec.

A pod's labels are its tenant's to write, so they are believed only as far as the
operator allows: pods of namespaces outside `namespaces` are not watched, a
namespace names only the services the operator listed for it, and a pod without
a role label is a canary (never the baseline others are judged against). Each
running container is one workload, named `<namespace>/<pod>/<container>`, with
the cgroup v2 directory its runtime made for it (found from the container id,
with the pod uid and QoS class as hints).

A poll finds a container once the kubelet says it runs: its first moments would go
unobserved. So the kubelet's QoS levels (`pod_cgroup_parents`) are handed to the
kernel, which registers every pod directory made under them, and gives every
container directory made in a pod a slot of its own as it is made (issue 23); a
poll then names the pods (`pod_cgroups`), and the agent hands each slot to its
container's workload, or takes it back from a pod that is not watched.

`requests` is imported on the first poll, not with this module (see containers.py).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gate_contract.records import CANARY, Role
from host_probe.discovery import DiscoveryError, Identity, Workload
from host_probe.discovery.cgroups import QOS_LEVELS, CgroupFinder
from host_probe.discovery.labels import identity_from_labels
from host_probe.discovery.podlist import Container, ContainerStatus, Pod, PodList

log = logging.getLogger(__name__)

SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
# Where the kubelet makes pods, for each cgroup driver (cgroups.pod_directories): the
# Guaranteed pods' level, and the Burstable and BestEffort ones below it.
POD_CGROUP_PARENTS = ["kubepods.slice", "kubepods.slice/kubepods-burstable.slice",
                      "kubepods.slice/kubepods-besteffort.slice", "kubepods", "kubepods/burstable",
                      "kubepods/besteffort"]
ENDED_PHASES = ("Succeeded", "Failed")


class PodCgroups(BaseModel):
    """What the agent tells the kernel about pods' directories, below the cgroup v2 root
    with a leading /: where pods are made, and which made or coming pods are watched."""

    parents: set[str] = Field(default_factory=set)
    watched: set[str] = Field(default_factory=set)
    not_watched: set[str] = Field(default_factory=set)
    # watched pods whose every container runs -> the earliest of their starts (Pod.settled_since):
    # what else was made in them before it is no container, and gives its slot back
    settled: dict[str, float] = Field(default_factory=dict)


def pod_directories_under(parents: set[str], pod_uid: str, qos_class: str = "") -> set[str]:
    """The directory the kubelet makes for a pod under each of `parents` that holds its QoS
    class (every parent when the class is not known): `<slice>-pod<uid_>.slice` under a
    systemd slice, `pod<uid>` otherwise; so a kubelet's own --cgroup-root (a kind node's
    kubelet-kubepods-burstable.slice) is followed as the usual ones are."""
    level = QOS_LEVELS.get(qos_class.lower())
    directories = set()
    for parent in parents:
        name = parent.rstrip("/").rsplit("/", 1)[-1]
        levels_named = [qos for qos in QOS_LEVELS.values() if qos and qos in name]
        if level is not None and (levels_named != [level] if level else levels_named):
            continue
        if name.endswith(".slice"):
            directories.add(f"{parent}/{name.removesuffix('.slice')}-pod{pod_uid.replace('-', '_')}.slice")
        else:
            directories.add(f"{parent}/pod{pod_uid}")
    return directories


class KubernetesOptions(BaseModel):
    """The `kubernetes:` section of the agent's config."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    node_name: str = Field(min_length=1, description="this node (the DaemonSet passes spec.nodeName)")
    api: Literal["kubelet", "apiserver"] = "kubelet"
    url: str = Field("", description="default: https://<node_name>:10250 (kubelet), "
                                     "https://kubernetes.default.svc (apiserver)")
    token_file: str = Field(f"{SERVICE_ACCOUNT}/token", description="empty: send no token")
    ca_file: str = Field(f"{SERVICE_ACCOUNT}/ca.crt", description="empty: the system's CAs")
    insecure_skip_tls_verify: bool = False
    name_label: str = Field("app.kubernetes.io/name", min_length=1,
                            description="pods without this label are not watched")
    version_label: str = Field("app.kubernetes.io/version", min_length=1,
                               description="absent: the tag of the container's image")
    role_label: str = Field("syscall-gate.io/role", min_length=1)
    namespaces: dict[str, list[str]] = Field(
        min_length=1, description="the namespaces whose pods are watched, each with the services its pods may be "
                                  "(\"*\": any); a pod elsewhere, or naming another service, is not watched")
    default_role: Role = Field(
        CANARY, description="the role of a pod without the role label: canary, so that an unlabelled pod never "
                              "becomes a baseline")
    pod_cgroup_parents: list[str] = Field(
        default_factory=lambda: list(POD_CGROUP_PARENTS),
        description="cgroup v2 directories (below the hierarchy's root) in which the kubelet makes pods' "
                    "directories: a container started in a watched pod is counted from its first process, "
                    "however late the pod list says it runs. A kubelet with its own --cgroup-root (a kind "
                    "node's kubelet.slice/kubelet-kubepods.slice/...) lists its own; empty: polling only")
    timeout_seconds: float = Field(5.0, gt=0)
    # A LIST of the node's pods costs the API server more than a look at a local
    # socket: asked less often than the agent's poll_interval.
    poll_interval_seconds: float = Field(5.0, gt=0, description="how often the pod list is asked for")

    @field_validator("namespaces")
    @classmethod
    def _services_listed(cls, namespaces: dict[str, list[str]]) -> dict[str, list[str]]:
        for namespace, services in namespaces.items():
            if not services or not all(isinstance(service, str) and service.strip() for service in services):
                raise ValueError(f"namespace {namespace!r} needs a list of the services its pods may be "
                                 "(or [\"*\"] for any)")
        return namespaces

    def may_claim(self, namespace: str, service: str) -> bool:
        services = self.namespaces.get(namespace, ())
        return "*" in services or service in services

    @property
    def pods_url(self) -> str:
        if self.api == "kubelet":
            return f"{(self.url or f'https://{self.node_name}:10250').rstrip('/')}/pods"
        return f"{(self.url or 'https://kubernetes.default.svc').rstrip('/')}/api/v1/pods"

    @property
    def permission(self) -> str:
        """What the token's account must be allowed, for the error that says it is not."""
        return "get nodes/proxy" if self.api == "kubelet" else "list pods"


class KubernetesSource:
    """The running containers of one node's pods, as workloads (cgroup v2 directories)."""

    name = "kubernetes"

    def __init__(self, options: KubernetesOptions, cgroups: CgroupFinder | None = None):
        self.options = options
        self.cgroups = cgroups or CgroupFinder()  # share one finder between sources: one cache
        self._session = None
        parents = {"/" + parent.strip("/") for parent in options.pod_cgroup_parents if parent.strip("/")}
        self.pod_cgroups = PodCgroups(parents=parents)  # the pods named by the last poll

    def poll(self) -> list[Workload]:
        workloads = []
        pods = PodCgroups(parents=self.pod_cgroups.parents)
        for pod in self.pod_list().items:
            if pod.spec.nodeName != self.options.node_name or pod.status.phase in ENDED_PHASES:
                continue
            directories = pod_directories_under(pods.parents, pod.metadata.uid, pod.status.qosClass)
            watched = self._watched(pod)
            (pods.watched if watched else pods.not_watched).update(directories)
            if pod.status.phase != "Running":
                continue
            since = pod.settled_since() if watched else None
            if since is not None:
                pods.settled.update(dict.fromkeys(directories, since))
            for status, spec in pod.running_containers():
                workload = self._workload(pod, status, spec)
                if workload is not None:
                    workloads.append(workload)
        self.pod_cgroups = pods
        return workloads

    def _watched(self, pod: Pod) -> bool:
        """Whether the pod's containers are watched (its pod not started yet, maybe): the
        namespace and labels decide, as for a running container (_workload), silently."""
        if pod.metadata.namespace not in self.options.namespaces:
            return False
        spec = pod.spec.containers[0] if pod.spec.containers else Container(name="")
        identity = identity_from_labels(pod.metadata.labels, service_label=self.options.name_label,
                                        version_label=self.options.version_label,
                                        role_label=self.options.role_label, default_role=self.options.default_role,
                                        image=spec.image,
                                        described=f"kubernetes: pod {pod.metadata.namespace}/{pod.metadata.name}")
        return identity is not None and self.options.may_claim(pod.metadata.namespace, identity.service)

    def pod_list(self) -> PodList:
        """This node's PodList, as the kubelet or the API server answers it."""
        import requests  # see the module docstring: not before the compile

        options, where = self.options, f"the {self.options.api} at {self.options.pods_url}"
        params = {"fieldSelector": f"spec.nodeName={options.node_name}"} if options.api == "apiserver" else None
        try:
            response = self._http().get(options.pods_url, params=params, headers=self._authorization(),
                                        verify=self._verify(), timeout=options.timeout_seconds)
        except requests.RequestException as exc:
            self._session = None
            raise DiscoveryError(f"kubernetes: cannot reach {where}: {_one_line(exc)}") from exc
        if response.status_code in (401, 403):
            raise DiscoveryError(f"kubernetes: {where} refused the request (HTTP {response.status_code}): "
                                 f"check token_file ({options.token_file or 'none'}) and that its account "
                                 f"may {options.permission}")
        if response.status_code != 200:
            raise DiscoveryError(f"kubernetes: {where} answered HTTP {response.status_code}: "
                                 f"{_one_line(response.text)[:200]}")
        try:
            return PodList.model_validate(json.loads(response.content))
        except ValueError as exc:  # json's and pydantic's errors are both ValueErrors
            raise DiscoveryError(f"kubernetes: {where} did not answer a PodList: {_first_error(exc)}") from exc

    def identity(self, pod: Pod, spec: Container | None, status: ContainerStatus) -> Identity | None:
        """Identity from the pod's labels (the container's image tag when the version
        label is absent); None when the pod is not to be watched."""
        options, meta = self.options, pod.metadata
        return identity_from_labels(meta.labels, service_label=options.name_label,
                                    version_label=options.version_label, role_label=options.role_label,
                                    default_role=options.default_role, image=spec.image if spec else status.image,
                                    described=f"kubernetes: pod {meta.namespace}/{meta.name}")

    def _workload(self, pod: Pod, status: ContainerStatus, spec: Container | None) -> Workload | None:
        if pod.metadata.namespace not in self.options.namespaces:
            return None
        identity = self.identity(pod, spec, status)
        if identity is None:
            return None
        if not self.options.may_claim(pod.metadata.namespace, identity.service):
            log.warning("kubernetes: pod %s/%s names service %r, which namespaces.%s does not list; not watched",
                        pod.metadata.namespace, pod.metadata.name, identity.service, pod.metadata.namespace)
            return None
        container_id = status.containerID.partition("://")[2]
        cgroup = self.cgroups.find(container_id, pod_uid=pod.metadata.uid, qos_class=pod.status.qosClass)
        name = f"{pod.metadata.namespace}/{pod.metadata.name}/{status.name}"
        if cgroup is None:
            # the kubelet can report a container running a moment before its cgroup is
            # visible here; the next poll finds it
            log.info("kubernetes: no cgroup v2 directory for %s (%s) yet", name, status.containerID)
            return None
        return Workload(source=self.name, name=name, identity=identity, cgroup=str(cgroup))

    def _http(self):
        if self._session is None:
            import requests

            self._session = requests.Session()
        return self._session

    def _verify(self) -> bool | str:
        # given with each request: a Session's own `verify` loses to REQUESTS_CA_BUNDLE
        # in the environment, which would silently drop the cluster's CA
        if self.options.insecure_skip_tls_verify:
            return False
        return self.options.ca_file or True

    def _authorization(self) -> dict[str, str]:
        if not self.options.token_file:
            return {}
        try:
            token = Path(self.options.token_file).read_text().strip()
        except OSError as exc:
            raise DiscoveryError(f"kubernetes: cannot read token_file {self.options.token_file}: "
                                 f"{exc.strerror}") from exc
        return {"Authorization": f"Bearer {token}"}


def _first_error(exc: ValueError) -> str:
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        return f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
    return _one_line(exc)


def _one_line(text: object) -> str:
    return " ".join(str(text).split()) or type(text).__name__
