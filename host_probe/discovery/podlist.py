"""The part of a Kubernetes PodList (core/v1, as the kubelet's /pods and the API
server's /api/v1/pods return it) that the Kubernetes source reads.

Fields are named as the API names them; everything else in a pod is ignored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Read(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ObjectMeta(_Read):
    name: str
    namespace: str = "default"
    uid: str
    labels: dict[str, str] = Field(default_factory=dict)


class Container(_Read):
    name: str
    image: str = ""


class PodSpec(_Read):
    nodeName: str = ""
    containers: list[Container] = Field(default_factory=list)
    ephemeralContainers: list[Container] = Field(default_factory=list)


class ContainerState(_Read):
    running: dict | None = None

    def started_at(self) -> float | None:
        """`running.startedAt` (RFC 3339), in seconds since the epoch."""
        try:
            return datetime.fromisoformat(str((self.running or {})["startedAt"])).timestamp()
        except (KeyError, ValueError):
            return None


class ContainerStatus(_Read):
    name: str
    containerID: str = ""  # "<runtime>://<id>"; empty until the runtime made it
    image: str = ""
    state: ContainerState = Field(default_factory=ContainerState)


class PodStatus(_Read):
    phase: str = ""
    qosClass: str = ""
    containerStatuses: list[ContainerStatus] = Field(default_factory=list)
    ephemeralContainerStatuses: list[ContainerStatus] = Field(default_factory=list)


class Pod(_Read):
    metadata: ObjectMeta
    spec: PodSpec = Field(default_factory=PodSpec)
    status: PodStatus = Field(default_factory=PodStatus)

    def running_containers(self) -> list[tuple[ContainerStatus, Container | None]]:
        """Each running container with an id, and its spec (for the image it was asked to run).
        Ephemeral containers (`kubectl debug`) count: a shell started in a canary is news."""
        specs = {c.name: c for c in self.spec.containers + self.spec.ephemeralContainers}
        return [(status, specs.get(status.name))
                for status in self.status.containerStatuses + self.status.ephemeralContainerStatuses
                if status.state.running is not None and status.containerID]

    def settled_since(self) -> float | None:
        """While every container of its spec runs: the earliest of their starts (seconds since
        the epoch), else None. A directory made in the pod before it, and not one of theirs,
        is no container's (its sandbox, CRI-O's conmon); one made after may be a container
        started again that the list does not show yet."""
        running = {status.name: status.state.started_at() for status, _ in self.running_containers()}
        if not self.spec.containers or not {c.name for c in self.spec.containers} <= running.keys():
            return None
        starts = [start for start in running.values() if start is not None]
        return min(starts) if len(starts) == len(running) else None


class PodList(_Read):
    kind: Literal["PodList"]
    items: list[Pod] = Field(default_factory=list)

    @field_validator("items", mode="before")
    @classmethod
    def _no_pods(cls, items):
        return [] if items is None else items  # Go writes an empty list as null
