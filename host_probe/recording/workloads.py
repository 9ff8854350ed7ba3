"""The workload table: which slot each watched workload has, written into the
loaded program's maps at run time (bpf/probe.bpf.c: workload_of_tgid,
workload_cgroups). Adding or removing a workload never reloads the program.

A workload's processes get its slot three ways: seeded here from /proc and
cgroup.procs; inherited at fork, in kernel; and taken in kernel when a process
execs in, or is moved into, a watched cgroup. Seeding walks twice: a process
forked between the first walk and its parent's seeding is caught by the second.

A cgroup expected before it exists (expect()) has its slot set aside and its path
in the kernel's expected_cgroups: the kernel registers it as it is made
(cgroup_mkdir), so its first process is counted from its placement.

A container whose directory cannot be named beforehand (a Kubernetes pod's: the
runtime's id is in its name) is registered by its parent instead (set_pod_rules()):
the kernel gives each directory made under a pod a slot from spare_slots, which
this table keeps topped up; collect_children() turns each into an expectation of
its own, and claim() hands it to the workload whose cgroup it is.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from host_probe.discovery import Workload
from host_probe.errors import ScopeError
from host_probe.kernel.map_batch import BatchReader

TGID_CHUNK = 65536


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name may contain spaces and parentheses: fields follow the last ")"
    return int(stat.rsplit(")", 1)[1].split()[1])


def process_children() -> dict[int, list[int]]:
    """parent pid -> child pids, from one walk of /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            parent = _parent_of(int(entry))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry))
    return children


def descendants(roots: Iterable[int], children: dict[int, list[int]] | None = None) -> set[int]:
    """The roots and every live process below them."""
    children = process_children() if children is None else children
    found, stack = set(roots), list(roots)
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def is_running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def cgroup_tree(directory: str) -> list[Path]:
    """A cgroup v2 directory and every cgroup below it."""
    root = Path(directory)
    found = [root]
    for parent, dirs, _ in os.walk(root):
        found += [Path(parent) / name for name in dirs]
    return found


def cgroup_id(directory: Path) -> int:
    """bpf_get_current_cgroup_id() is the cgroup v2 directory's inode number."""
    return os.stat(directory).st_ino


def cgroup_processes(directories: Iterable[Path]) -> set[int]:
    pids: set[int] = set()
    for directory in directories:
        try:
            pids.update(int(line) for line in (directory / "cgroup.procs").read_text().split())
        except OSError:  # removed while we walked
            continue
    return pids


def cgroup_relative_path(directory: str, root: Path) -> str:
    """The path the kernel's cgroup tracepoints name a cgroup by: below the v2 root, with a leading /."""
    return "/" + str(Path(directory).relative_to(root)).strip("/").removeprefix(".")


def check_cgroup(directory: str) -> None:
    path = Path(directory)
    if not path.is_dir():
        raise ScopeError(f"cgroup {directory}: not a directory")
    if not (path / "cgroup.controllers").exists():
        raise ScopeError(f"cgroup {directory}: not a cgroup v2 directory (no cgroup.controllers); "
                         "use the directory under the cgroup2 mount, e.g. /sys/fs/cgroup/unified/...")


# An entry's low 32 bits are its slot; the high 32 are lineage's (the exec image id and
# its syscall bucket, written by the kernel at the process's exec: bpf/probe.bpf.c).
SLOT_MASK = 0xFFFFFFFF


def assign_slot(bpf, pids: Iterable[int], slot: int) -> None:
    """Give these processes a slot (0: none), in the loaded program's tgid table.
    One entry per tgid: no other writer shares it. A process that has the slot already
    (the kernel placed it: its fork, its exec in the workload's cgroup) is left alone,
    so it keeps what the kernel knows of its program: re-seeding it on every poll made
    whatever it exec'd next "started by" no program (issue 23: postgres after setpriv)."""
    table = bpf["workload_of_tgid"]
    size = len(table)
    for pid in pids:
        if pid >= size:
            continue
        key = table.Key(pid)
        if slot and int(table[key].value) & SLOT_MASK == slot:
            continue
        table[key] = table.Leaf(slot)


@dataclass
class Expected:
    """A cgroup path set aside for a workload before it exists, or a directory the kernel
    registered under a pod, held for the workload its source will name."""
    slot: int
    key: object  # the kernel map's key: the path, NUL-padded; None for a pod's child
    cgroup_id: int = 0  # a pod's child's (known as made)
    made_at: float = 0.0  # a pod's child's, time.monotonic() when collected
    made_wall: float = 0.0  # a pod's child's, when the kernel saw it made (seconds since the epoch)


# bpf/probe.bpf.c's rules for a parent cgroup: its children are pods, or a pod's containers.
PARENT_OF_PODS, PARENT_OF_CONTAINERS = 1, 2
# How long a directory the kernel registered under the pod parents, for a pod no source
# has named yet, stays registered: the pod list that names it comes a poll later.
UNNAMED_POD_S = 60.0
CHILD_PREFIX = "pod-child:"


def child_key(cgroup_id: int) -> str:
    return f"{CHILD_PREFIX}{cgroup_id}"


@dataclass
class Entry:
    workload: Workload
    slot: int
    cgroup_ids: set[int] = field(default_factory=set)


class TableFull(Exception):
    """Every slot is taken; the message names the workload refused."""


class WorkloadTable:
    def __init__(self, bpf, max_workloads: int, max_cgroups: int,
                 list_children: Callable[[], dict[int, list[int]]] = process_children):
        self.bpf = bpf
        self.tgid_slots = bpf["workload_of_tgid"]
        self.cgroup_slots = bpf["workload_cgroups"]
        self.max_cgroups = max_cgroups
        self.free_slots = list(range(max_workloads, 0, -1))  # pop() hands out 1 first
        self.entries: dict[str, Entry] = {}
        self.expected: dict[str, Expected] = {}
        self.list_children = list_children
        self.pooled: set[int] = set()  # slots pushed into the kernel's spare_slots, not taken yet
        self.parents: dict[str, int] = {}  # parent cgroups this table wrote a rule for -> rule
        self.unslotted = 0  # containers made in a pod while no spare slot was left (found by polling)
        self.registered = 0  # parent rules in the kernel at the last look (the agent's and the kernel's)

    @property
    def children(self) -> list[str]:
        """Keys of the directories the kernel registered under a pod, not claimed yet."""
        return [key for key, expected in self.expected.items() if expected.key is None]

    def __len__(self) -> int:
        return len(self.entries)

    def slot_of(self, key: str) -> int | None:
        entry = self.entries.get(key)
        return entry.slot if entry else None

    def _reclaim_spare(self) -> bool:
        """One slot back from the kernel's spare slots into the free ones; False when the
        kernel took them all (they come back through collect_children())."""
        if not self.pooled:
            return False
        try:
            slot = int(self.bpf["spare_slots"].pop().value)
        except KeyError:
            return False
        self.pooled.discard(slot)
        self.free_slots.append(slot)
        return True

    def _has_room(self) -> bool:
        """A free slot, taken back from the spare ones when none is left here."""
        return bool(self.free_slots) or self._reclaim_spare()

    def ensure_room(self, workload: Workload) -> None:
        if not self._has_room():
            raise TableFull(f"{workload.key} ({workload.identity.service} {workload.identity.version}) "
                            f"refused: all {len(self.entries)} workload slots are taken (max_workloads)")

    def expect(self, workload: Workload, cgroup_root: Path) -> bool:
        """Set a slot aside for a cgroup workload whose directory is not made yet, and
        have the kernel register the directory as it is made. False when no slot is
        free or the path is too long for the kernel's key (it is then found by polling)."""
        from host_probe.kernel.loader import EXPECTED_CGROUP_PATH

        if workload.key in self.expected or workload.key in self.entries:
            return workload.key in self.expected
        if not self._has_room():
            return False
        if cgroup_root is None or not workload.cgroup:
            return False
        path = cgroup_relative_path(workload.cgroup, cgroup_root).encode()
        table = self.bpf["expected_cgroups"]
        if len(path) >= EXPECTED_CGROUP_PATH:
            return False
        key = table.Key()
        key.text = path
        leaf = table.Leaf()
        leaf.slot, leaf.cgroup_id = self.free_slots[-1], 0
        try:
            table[key] = leaf
        except Exception:  # the map is full: found by polling instead
            return False
        self.expected[workload.key] = Expected(self.free_slots.pop(), key)
        return True

    def made(self, key: str) -> int:
        """The id of an expected cgroup the kernel saw made, else 0."""
        expected = self.expected.get(key)
        if expected is None:
            return 0
        if expected.key is None:
            return expected.cgroup_id
        try:
            return int(self.bpf["expected_cgroups"][expected.key].cgroup_id)
        except KeyError:
            return 0

    def unexpect(self, key: str) -> None:
        """No longer expected (removed from the config, or made and now added): its slot
        back, unless add() took it."""
        expected = self.expected.pop(key)
        cgroup_id = expected.cgroup_id
        if expected.key is not None:
            try:
                cgroup_id = int(self.bpf["expected_cgroups"][expected.key].cgroup_id)
                del self.bpf["expected_cgroups"][expected.key]
            except KeyError:
                pass
        if key not in self.entries:
            if cgroup_id:
                self._forget_cgroups({cgroup_id})
            self._clear_slot(expected.slot)
            self.release(expected.slot)  # what its processes exec'd (lineage) is not the next one's

    # -- pods: containers registered under their pod's directory ---------------------------
    def set_pod_rules(self, pod_parents: set[str], watched: set[str], not_watched: set[str],
                      cgroup_root: Path, settled: dict[str, float] | None = None) -> list[str]:
        """Write the kernel's parent rules: `pod_parents` (the kubelet's QoS levels) make each
        new child a pod; `watched` pods' directories (made or not yet) give each container made
        in them a spare slot. A directory the kernel registered itself stays until a pod list
        says its pod is not watched, it is gone, or UNNAMED_POD_S pass with no source naming
        it. Paths are below the v2 root with a leading /. Returns the keys of registered
        children that belong to pods not watched, or that were made in a `settled` pod (path ->
        the earliest start of its containers, all running and so claimed by now) before that
        start: to unexpect."""
        from host_probe.kernel.loader import EXPECTED_CGROUP_PATH

        table = self.bpf["cgroup_parents"]
        wanted = {path: PARENT_OF_PODS for path in pod_parents}
        wanted.update({path: PARENT_OF_CONTAINERS for path in watched})
        wanted = {path: rule for path, rule in wanted.items() if len(path.encode()) < EXPECTED_CGROUP_PATH}
        now_ns = time.monotonic_ns()  # bpf_ktime_get_ns() reads the same clock
        leaving: list[Path] = []
        for key, leaf in list(table.items()):
            path = bytes(key.text).split(b"\0", 1)[0].decode(errors="replace")
            if path in wanted:
                continue
            by_kernel = bool(leaf.made_ns)
            gone = not (cgroup_root / path.lstrip("/")).is_dir()
            unnamed_too_long = now_ns - int(leaf.made_ns) > UNNAMED_POD_S * 1e9
            if by_kernel and not (path in not_watched or gone or unnamed_too_long):
                continue
            try:
                del table[key]
            except KeyError:
                pass
            self.parents.pop(path, None)
            if not gone:
                leaving.append(cgroup_root / path.lstrip("/"))
        for path, rule in wanted.items():
            if self.parents.get(path) == rule:
                continue
            key, leaf = table.Key(), table.Leaf()
            key.text = path.encode()
            leaf.rule, leaf.made_ns = rule, 0
            try:
                table[key] = leaf
            except Exception:  # the map is full: that pod's containers are found by polling
                continue
            self.parents[path] = rule
        self.registered = len(table)
        done = [key for path, since in (settled or {}).items()
                for key in self._children_in([cgroup_root / path.lstrip("/")]) if self.expected[key].made_wall < since]
        return list(dict.fromkeys(self._children_in(leaving) + done))

    def _children_in(self, directories: list[Path]) -> list[str]:
        ids: set[int] = set()
        for directory in directories:
            try:
                ids.update(cgroup_id(child) for child in directory.iterdir() if child.is_dir())
            except OSError:
                continue
        return [child_key(cid) for cid in ids if child_key(cid) in self.expected]

    def top_up_spares(self, target: int) -> None:
        """Keep `target` slots in the kernel's spare_slots (0: take them all back)."""
        from host_probe.kernel.loader import MAX_SPARE_SLOTS

        target = min(target, MAX_SPARE_SLOTS)
        queue = self.bpf["spare_slots"]
        while len(self.pooled) < target and self.free_slots:
            slot = self.free_slots.pop()
            queue.push(queue.Leaf(slot))
            self.pooled.add(slot)
        while len(self.pooled) > target and self._reclaim_spare():
            pass

    def collect_children(self) -> list[str]:
        """The directories the kernel registered under a pod since the last look, each now
        an expectation holding its slot (keyed child_key(id) until claimed). One made when
        no spare slot was left is only forgotten: its container is found by polling."""
        made = self.bpf["made_children"]
        found: list[str] = []
        for key, leaf in list(made.items()):
            cid, slot = int(key.value), int(leaf.slot)
            try:
                del made[key]
            except KeyError:
                pass
            if not slot:
                self.unslotted += 1
                continue
            self.pooled.discard(slot)
            # bpf_ktime_get_ns() is CLOCK_MONOTONIC, as time.monotonic_ns()
            made_wall = time.time() - (time.monotonic_ns() - int(leaf.made_ns)) / 1e9
            self.expected[child_key(cid)] = Expected(slot, None, cid, time.monotonic(), made_wall)
            found.append(child_key(cid))
        return found

    def claim(self, workload: Workload) -> bool:
        """Hand a directory the kernel registered under a pod to the workload whose cgroup
        it is: it is then the workload's expectation, with the slot its counts are in."""
        if workload.key in self.expected or not workload.cgroup or not self.children:
            return False
        try:
            key = child_key(cgroup_id(Path(workload.cgroup)))
        except OSError:
            return False
        if key not in self.expected:
            return False
        self.expected[workload.key] = self.expected.pop(key)
        return True

    def add(self, workload: Workload) -> tuple[int, set[int], bool]:
        """Give the workload a slot and its processes that slot: (the slot, the
        processes found running, whether the kernel registered its cgroup as it was
        made: then every process in it was counted from its placement). TableFull
        when no slot is free."""
        made = 0
        if workload.key in self.expected:
            made = self.made(workload.key)
            entry = Entry(workload, self.expected[workload.key].slot)
            if made:
                entry.cgroup_ids.add(made)
            self.entries[workload.key] = entry
            self.unexpect(workload.key)
        else:
            self.ensure_room(workload)
            entry = Entry(workload, self.free_slots.pop())
            self.entries[workload.key] = entry
        return entry.slot, self._seed(entry, with_process_trees=True), bool(made)

    def processes(self, key: str) -> set[int]:
        """The workload's processes running now (its cgroups' and its process trees')."""
        entry = self.entries[key]
        pids = cgroup_processes(cgroup_tree(entry.workload.cgroup) if entry.workload.cgroup else [])
        if entry.workload.pids:
            pids |= descendants(entry.workload.pids, self.list_children())
        return pids

    def refresh(self, key: str) -> None:
        """Register cgroups created below the workload's since the last look, and
        give their processes the slot. (Process trees need no refresh: children
        inherit the slot in kernel.)"""
        entry = self.entries[key]
        if entry.workload.cgroup:
            self._seed(entry, with_process_trees=False)

    def _seed(self, entry: Entry, with_process_trees: bool) -> set[int]:
        directories = cgroup_tree(entry.workload.cgroup) if entry.workload.cgroup else []
        for directory in directories:
            try:
                cid = cgroup_id(directory)
            except OSError:
                continue
            if cid not in entry.cgroup_ids and len(self.cgroup_slots) < self.max_cgroups:
                self.cgroup_slots[self.cgroup_slots.Key(cid)] = self.cgroup_slots.Leaf(entry.slot)
                entry.cgroup_ids.add(cid)
        seeded: set[int] = set()
        for _ in range(2):
            pids = cgroup_processes(directories)
            if entry.workload.pids and with_process_trees:
                pids |= descendants(entry.workload.pids, self.list_children())
            assign_slot(self.bpf, pids, entry.slot)
            seeded |= pids
        return seeded

    def remove(self, key: str) -> int:
        """Take the workload's slot back from its cgroups and processes. The slot is
        not handed out again until release(): its last window is still to drain."""
        entry = self.entries.pop(key)
        self._forget_cgroups(entry.cgroup_ids)
        self._clear_slot(entry.slot)
        return entry.slot

    def _forget_cgroups(self, cgroup_ids) -> None:
        for cid in cgroup_ids:
            try:
                del self.cgroup_slots[self.cgroup_slots.Key(cid)]
            except KeyError:
                pass

    def _clear_slot(self, slot: int) -> None:
        reader = BatchReader(self.tgid_slots, TGID_CHUNK)
        held: list[int] = []
        for n in reader.chunks():
            # the low 32 bits are the slot; the high ones the process's exec image id (lineage)
            rows = np.flatnonzero((reader.u64_values(n)[:, 0] & np.uint64(0xFFFFFFFF)) == slot)
            held += [int(reader.keys[row]) for row in rows]
        assign_slot(self.bpf, held, 0)

    def release(self, slot: int) -> None:
        # its programs' syscall buckets (lineage) are not the next workload's; kept until
        # now, past the removal, for the slot's last window
        buckets = self.bpf["image_buckets"]
        for ref in [ref for ref in buckets.keys() if ref.slot == slot]:
            try:
                del buckets[ref]
            except KeyError:
                pass
        taken = self.bpf["image_buckets_taken"]
        taken[taken.Key(slot)] = taken.Leaf(0)
        self.free_slots.append(slot)
