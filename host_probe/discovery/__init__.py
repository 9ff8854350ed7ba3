"""Discovery sources: who runs on this host, and as which service, version and role.

Each source is a small module with a class that has a `name` and a `poll()`
returning the full set of workloads it sees now (`list[Workload]`), or raising
`DiscoveryError` when it cannot tell (its runtime or API is away: the agent then
keeps the source's last known set rather than closing every recording).
`changes()` turns two successive sets into the events the agent acts on.

Identity always comes from the orchestrator's own records (the static config,
the container runtime's labels, the Kubernetes pod's labels), never from a
process's environment: a workload must not be able to choose its own service,
version or role.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Literal

from gate_contract.records import BASELINE


class DiscoveryError(Exception):
    """A source cannot list its workloads now; the message says why."""


@dataclass(frozen=True)
class Identity:
    service: str
    version: str
    role: str = BASELINE


@dataclass(frozen=True)
class Workload:
    """One thing to watch. `cgroup` is a cgroup v2 directory (absolute path under the
    cgroup2 mount) whose processes are the workload; `pids` are process-tree roots
    (each with every descendant). A workload has either or both."""

    source: str  # "static", "docker", "kubernetes"
    name: str  # unique within the source: a config name, a container id, "<ns>/<pod>/<container>"
    identity: Identity
    cgroup: str = ""
    pids: frozenset[int] = field(default_factory=frozenset)

    @property
    def key(self) -> str:
        return f"{self.source}:{self.name}"

    @property
    def scope(self) -> str:
        """How the recording names its scope (stored with it)."""
        parts = [f"cgroup:{self.cgroup}"] if self.cgroup else []
        parts += [f"pid:{pid}" for pid in sorted(self.pids)]
        return f"{self.key} " + ",".join(parts)


@dataclass(frozen=True)
class WorkloadEvent:
    change: Literal["appeared", "changed", "gone"]
    workload: Workload  # for "gone": the workload as last seen


def changes(previous: dict[str, Workload], current: Iterable[Workload]) -> list[WorkloadEvent]:
    """Events that take `previous` (by key) to `current`. A workload whose identity or
    scope changed (a new version deployed in place) is "changed": its recording closes
    and a new one starts."""
    now = {workload.key: workload for workload in current}
    events = [WorkloadEvent("gone", old) for key, old in previous.items() if key not in now]
    for key, workload in now.items():
        old = previous.get(key)
        if old is None:
            events.append(WorkloadEvent("appeared", workload))
        elif old != workload:
            events.append(WorkloadEvent("changed", workload))
    return events
