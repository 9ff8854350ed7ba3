"""The containers source: running Docker containers, identified by their labels.

Docker's Engine API (its unix socket) is asked for the running containers that
carry the service label; each is inspected for its labels, image and init pid.
Identity is read from the labels the container was created with (`docker run
--label`), which the container's own processes cannot change, and never from its
environment. Labels that Docker merged in from the image's LABELs are not taken
(service, role or version): the image's builder does not choose the deployment's
identity. The version is the version label set on the container or else the tag of
the image the deployer named (`registry/app:v42` -> `v42`; an untagged name is
Docker's own `latest`).

A container created with the label is also learned of as it is created, from the
Engine API's event stream (host_probe.discovery.docker_events), before Docker starts
it: its predicted cgroup v2 directory is then `expected`, so the kernel registers it
as runc makes it and the container's start-up is observed from its first process
(issue 23). The expectation's identity follows the same rule as a poll's, from the
labels the create event carries; the recording's is the poll's.

The `docker` SDK is imported on the first poll, not with this module: the agent
reads its config (and so ContainerOptions) before it compiles the eBPF programs,
and requests (which the SDK imports) must not add to the compiler's peak RSS.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

from pydantic import BaseModel, ConfigDict, Field

from gate_contract.records import BASELINE, Role
from host_probe.discovery import DiscoveryError, Identity, Workload
from host_probe.discovery.cgroups import CgroupFinder, docker_directory
from host_probe.discovery.docker_events import CreationFollower
from host_probe.discovery.labels import identity_from_labels


class ContainerOptions(BaseModel):
    """The `containers:` section of the agent's config."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    socket: str = Field("/var/run/docker.sock", description="Docker Engine API unix socket")
    service_label: str = Field("syscall-gate.service", min_length=1,
                               description="containers without this label are not watched")
    role_label: str = Field("syscall-gate.role", min_length=1)
    version_label: str = Field("org.opencontainers.image.version", min_length=1,
                               description="absent: the tag of the container's image")
    default_role: Role = BASELINE
    timeout_seconds: float = Field(5.0, gt=0)


class DockerSource:
    """Running containers of one Docker daemon, as workloads (cgroup v2 directory and init
    pid); with follow(), the ones created and not started yet as `expected`."""

    name = "docker"

    def __init__(self, options: ContainerOptions, cgroups: CgroupFinder | None = None):
        self.options = options
        self.cgroups = cgroups or CgroupFinder()  # share one finder between sources: one cache
        self.problems: list[str] = []
        self._client = None
        self._image_labels_by_id: dict[str, dict[str, str]] = {}  # an image id names immutable content
        # Written by the follower's thread, read by the agent's loop:
        self._lock = threading.Lock()
        self._created: dict[str, tuple[int, Workload]] = {}  # container id -> (its creation's number, expected)
        self._creations = 0  # creations handed on so far
        self._stream_problem = ""
        self._cgroup_driver = ""  # the daemon's, asked as the follower connects
        self.follower: CreationFollower | None = None
        self._on_news: Callable[[], None] = lambda: None

    @property
    def expected(self) -> list[Workload]:
        """Containers created with the label and not seen running yet, at the cgroup
        directory Docker will make for them."""
        with self._lock:
            return [workload for _, workload in self._created.values()]

    def follow(self, on_news: Callable[[], None]) -> None:
        """Follow the daemon's creations from now on; `on_news` is called (from the
        follower's thread) when `expected` has grown. Returns once the stream is
        subscribed to (or has failed, or the Engine API's timeout passed): a container
        created after that is expected, one created before is found by the next poll."""
        self._on_news = on_news
        self.follower = CreationFollower(self.options.socket, self.options.service_label,
                                         self._follower_connected, self._container_created, self._stream_state,
                                         self.options.timeout_seconds)
        self.follower.start()
        self.follower.tried.wait(self.options.timeout_seconds)

    def close(self) -> None:
        if self.follower is not None:
            self.follower.stop()
            self.follower = None

    def poll(self) -> list[Workload]:
        import docker  # see the module docstring: not before the compile
        import requests

        with self._lock:
            self.problems = [self._stream_problem] if self._stream_problem else []
            creations_before = self._creations
        try:
            client = self._connect()
            listed = client.containers(all=True, filters={"status": ["created", "running"],
                                                          "label": self.options.service_label})
            running = [entry["Id"] for entry in listed if entry.get("State") == "running"]
            workloads = [w for w in (self._workload(client, cid) for cid in running) if w is not None]
        except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
            self._client = None
            reason = " ".join(str(exc).split())
            raise DiscoveryError(f"docker: the Engine API at {self.options.socket} failed: {reason}") from exc
        not_started = {entry["Id"] for entry in listed if entry.get("State") == "created"}
        with self._lock:
            # one created after the list began is kept whatever the list said of it
            self._created = {cid: (number, workload) for cid, (number, workload) in self._created.items()
                             if cid in not_started or number > creations_before}
        return workloads

    # -- the follower's thread -------------------------------------------------------
    def _follower_connected(self, client) -> None:
        self._cgroup_driver = client.info().get("CgroupDriver", "")

    def _container_created(self, client, event: dict) -> None:
        """Not inspected: Docker starts a container holding its lock, and an inspect made
        during `docker run` waits for the start to end (300 ms measured), long after runc
        made the cgroup. The event carries the labels the container was created with and
        its image's name; the image's labels are excluded as a poll excludes them."""
        import docker

        container_id = event["id"]
        attributes = dict((event.get("Actor") or {}).get("Attributes") or {})
        image = attributes.pop("image", "")
        attributes.pop("name", None)
        try:
            image_labels = (client.inspect_image(image).get("Config") or {}).get("Labels") or {} if image else {}
        except docker.errors.NotFound:
            image_labels = {}
        identity = self.identity({"Labels": attributes, "Image": image}, image_labels, container_id)
        # a --cgroup-parent is not in the event: the daemon's default place is expected, and
        # a container elsewhere is found by polling
        directory = docker_directory(container_id, self._cgroup_driver or "")
        if identity is None or directory is None:
            return
        workload = Workload(source=self.name, name=container_id, identity=identity,
                            cgroup=str(self.cgroups.root / directory))
        with self._lock:
            self._creations += 1
            self._created[container_id] = (self._creations, workload)
        self._on_news()

    def _stream_state(self, problem: str) -> None:
        with self._lock:
            self._stream_problem = problem

    def _connect(self):
        if self._client is None:
            if not Path(self.options.socket).exists():
                raise DiscoveryError(f"docker: no Engine API socket at {self.options.socket}: "
                                     "is dockerd running? (containers.socket names it)")
            import docker

            # version=None asks the daemon for its API version once, so that a newer
            # SDK still talks to an older daemon (Debian 12's docker.io speaks 1.41)
            self._client = docker.APIClient(base_url=f"unix://{self.options.socket}",
                                            timeout=self.options.timeout_seconds)
        return self._client

    def _workload(self, client, container_id: str) -> Workload | None:
        import docker

        try:
            details = client.inspect_container(container_id)
            image_labels = self._image_labels(client, details.get("Image", ""))
        except docker.errors.NotFound:
            return None  # gone between the list and the inspect
        state = details.get("State") or {}
        if not state.get("Running") or not state.get("Pid"):
            return None
        identity = self.identity(details.get("Config") or {}, image_labels, container_id)
        if identity is None:
            return None
        # no v2 directory (a runtime that joins v1 hierarchies only): the init pid still scopes it
        cgroup = self.cgroups.find(container_id)
        return Workload(source=self.name, name=container_id, identity=identity,
                        cgroup=str(cgroup) if cgroup else "", pids=frozenset({state["Pid"]}))

    def _image_labels(self, client, image_id: str) -> dict[str, str]:
        if image_id not in self._image_labels_by_id:
            if len(self._image_labels_by_id) >= 256:
                self._image_labels_by_id.clear()
            image_config = client.inspect_image(image_id).get("Config") or {}
            self._image_labels_by_id[image_id] = image_config.get("Labels") or {}
        return self._image_labels_by_id[image_id]

    def identity(self, config: dict, image_labels: dict[str, str], container_id: str = "") -> Identity | None:
        """Identity from a container's Config (its own labels and image name); None when
        the container is not to be watched. Config.Env is never read."""
        options = self.options
        labels = own_labels(config.get("Labels") or {}, image_labels)
        return identity_from_labels(labels, service_label=options.service_label,
                                    version_label=options.version_label, role_label=options.role_label,
                                    default_role=options.default_role, image=config.get("Image", ""),
                                    described=f"docker: container {container_id[:12]}")


def own_labels(labels: dict[str, str], image_labels: dict[str, str]) -> dict[str, str]:
    """The labels a container was given when it was created. Docker merges the image's
    LABELs into the container's, and whoever built the image is not whoever deployed
    it: a label with the image's value is dropped, even when the deployer repeated it
    (the image tag, which the deployer chose, names the version then)."""
    return {key: value for key, value in labels.items() if key not in image_labels or image_labels[key] != value}
