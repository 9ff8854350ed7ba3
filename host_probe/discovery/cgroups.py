"""Where a container's processes live: its cgroup v2 directory, found from its id.

The agent scopes by cgroup v2 id, so every discovery source that learns of a
container (Docker, the kubelet) needs the directory the runtime made for it.
Runtimes name it differently, and Kubernetes nests it under the pod:

    cgroupfs driver              systemd driver
    /docker/<id>                 /system.slice/docker-<id>.scope
    /kubepods/<qos>/pod<uid>/<id>  /kubepods.slice/kubepods-<qos>.slice/
                                   kubepods-<qos>-pod<uid_>.slice/cri-containerd-<id>.scope
    (Guaranteed pods have no <qos> level; CRI-O names the leaf crio-<id>[.scope],
    podman libpod-<id>.scope.)

The hints a source knows (runtime, pod uid, QoS class) give the exact path of the
usual layouts, so a lookup is a few stat() calls. Anything else (a kubelet with
its own --cgroup-root, a --cgroup-parent) falls back to one walk of the hierarchy
that indexes every directory named after a container id; results are cached.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from host_probe.discovery import DiscoveryError

MOUNTINFO = "/proc/self/mountinfo"

# A container id as Docker, containerd and CRI-O print it: 64 hex digits, ending
# the directory name (after a "docker-"/"cri-containerd-"/"crio-" prefix, before ".scope").
CONTAINER_DIR = re.compile(r"(?:^|-)([0-9a-f]{64})(?:\.scope)?$")
QOS_LEVELS = {"guaranteed": "", "burstable": "burstable", "besteffort": "besteffort"}
# The walk's depth limit: the deepest usual layout (a kind node's
# kubelet.slice/kubelet-kubepods.slice/<qos>/<pod>/<leaf>) is five levels.
MAX_WALK_DEPTH = 8
# Past this many cached ids, the ones whose directory is gone are dropped (container churn).
MAX_CACHED = 1024


def cgroup2_mount(mountinfo: str = MOUNTINFO) -> Path:
    """The mount point of the cgroup v2 hierarchy (/sys/fs/cgroup on a v2 host,
    /sys/fs/cgroup/unified on a hybrid one), read from mountinfo."""
    try:
        lines = Path(mountinfo).read_text().splitlines()
    except OSError as exc:
        raise DiscoveryError(f"cannot read {mountinfo}: {exc.strerror}") from exc
    for line in lines:
        fields, _, rest = line.partition(" - ")
        if rest.split(" ", 1)[0] == "cgroup2":
            return Path(_unescape(fields.split(" ")[4]))
    raise DiscoveryError(f"no cgroup2 file system is mounted (per {mountinfo}): the agent needs cgroup v2")


def _unescape(mount_point: str) -> str:
    # mountinfo writes space, tab, newline and backslash as octal escapes (\040 ...)
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), mount_point)


def process_cgroup(pid: int | str, root: Path | None = None) -> Path:
    """The absolute cgroup v2 directory of a process, from the "0::" line of /proc/<pid>/cgroup."""
    root = root or cgroup2_mount()
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except FileNotFoundError as exc:
        raise DiscoveryError(f"process {pid} does not exist") from exc
    for line in lines:
        if line.startswith("0::"):
            relative = line[3:].removesuffix(" (deleted)")
            return root / relative.lstrip("/")
    raise DiscoveryError(f"process {pid} is in no cgroup v2 directory (/proc/{pid}/cgroup has no 0:: line)")


def leaf_names(container_id: str) -> tuple[str, ...]:
    """Every name a runtime gives the directory of one container."""
    return (container_id, f"docker-{container_id}.scope", f"cri-containerd-{container_id}.scope",
            f"crio-{container_id}.scope", f"crio-{container_id}", f"libpod-{container_id}.scope")


def pod_directories(pod_uid: str, qos_class: str = "") -> list[str]:
    """The kubelet's directory of a pod, relative to the hierarchy's root, for each
    cgroup driver; every QoS level when the class is not known."""
    qos = QOS_LEVELS.get(qos_class.lower())
    levels = [qos] if qos is not None else list(QOS_LEVELS.values())
    systemd_uid = pod_uid.replace("-", "_")  # systemd reads "-" in a slice name as nesting
    paths = []
    for level in dict.fromkeys(levels):
        if level:
            paths.append(f"kubepods.slice/kubepods-{level}.slice/kubepods-{level}-pod{systemd_uid}.slice")
            paths.append(f"kubepods/{level}/pod{pod_uid}")
        else:
            paths.append(f"kubepods.slice/kubepods-pod{systemd_uid}.slice")
            paths.append(f"kubepods/pod{pod_uid}")
    return paths


def docker_directory(container_id: str, driver: str, cgroup_parent: str = "") -> str | None:
    """The directory, relative to the hierarchy's root, that Docker will make for a
    container it has created but not started: known before runc makes it, so the kernel
    can be asked to register it as it is made. None for a layout that cannot be told
    beforehand (no cgroups, a systemd parent that is not a slice)."""
    if driver == "cgroupfs":
        return f"{cgroup_parent.strip('/') or 'docker'}/{container_id}"
    if driver == "systemd":
        parent = cgroup_parent or "system.slice"
        if not parent.endswith(".slice") or "/" in parent:
            return None
        return "/".join([*slice_path(parent), f"docker-{container_id}.scope"])
    return None


def slice_path(unit: str) -> list[str]:
    """systemd nests a slice by the dashes in its name: a-b.slice is a.slice/a-b.slice."""
    parts = unit.removesuffix(".slice").split("-")
    return ["-".join(parts[:depth]) + ".slice" for depth in range(1, len(parts) + 1)]


class CgroupFinder:
    """Finds (and caches) the cgroup v2 directory of container ids under one hierarchy."""

    def __init__(self, root: Path | str | None = None, *, rescan_interval: float = 0.5):
        self.root = Path(root) if root else cgroup2_mount()
        self.rescan_interval = rescan_interval
        self._found: dict[str, Path] = {}
        self._index: dict[str, Path] = {}
        self._indexed_at = float("-inf")

    def find(self, container_id: str, *, pod_uid: str = "", qos_class: str = "") -> Path | None:
        """The directory of the container, or None when the runtime has not made it
        (yet, or at all: a v1-only runtime)."""
        cached = self._found.get(container_id)
        if cached is not None and cached.is_dir():
            return cached
        self._found.pop(container_id, None)
        path = self._at_known_place(container_id, pod_uid, qos_class) or self._walked(container_id)
        if path is not None:
            if len(self._found) >= MAX_CACHED:
                self._found = {cid: found for cid, found in self._found.items() if found.is_dir()}
            self._found[container_id] = path
        return path

    def _at_known_place(self, container_id: str, pod_uid: str, qos_class: str) -> Path | None:
        parents = pod_directories(pod_uid, qos_class) if pod_uid else ["docker", "system.slice", "machine.slice"]
        for parent in parents:
            for leaf in leaf_names(container_id):
                candidate = self.root / parent / leaf
                if candidate.is_dir():
                    return candidate
        return None

    def _walked(self, container_id: str) -> Path | None:
        path = self._index.get(container_id)
        if (path is None or not path.is_dir()) and time.monotonic() - self._indexed_at >= self.rescan_interval:
            self._index = self._scan()
            self._indexed_at = time.monotonic()
            path = self._index.get(container_id)
        return path if path is not None and path.is_dir() else None

    def _scan(self) -> dict[str, Path]:
        index: dict[str, Path] = {}
        base_depth = len(self.root.parts)
        for directory, subdirectories, _ in os.walk(self.root):
            here = Path(directory)
            match = CONTAINER_DIR.search(here.name)
            if match:
                index[match.group(1)] = here
                subdirectories.clear()  # a container's own sub-cgroups are not other containers
            elif len(here.parts) - base_depth >= MAX_WALK_DEPTH:
                subdirectories.clear()
        return index
