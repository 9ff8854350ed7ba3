"""The workload table: which slot each watched workload has, written into the
loaded program's maps at run time (bpf/probe.bpf.c: workload_of_tgid,
workload_cgroups). Adding or removing a workload never reloads the program.

A workload's processes get its slot three ways: seeded here from /proc and
cgroup.procs; inherited at fork, in kernel; and taken in kernel when a process
execs in, or is moved into, a watched cgroup. Seeding walks twice: a process
forked between the first walk and its parent's seeding is caught by the second.
"""

from __future__ import annotations

import os
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


def check_cgroup(directory: str) -> None:
    path = Path(directory)
    if not path.is_dir():
        raise ScopeError(f"cgroup {directory}: not a directory")
    if not (path / "cgroup.controllers").exists():
        raise ScopeError(f"cgroup {directory}: not a cgroup v2 directory (no cgroup.controllers); "
                         "use the directory under the cgroup2 mount, e.g. /sys/fs/cgroup/unified/...")


def assign_slot(bpf, pids: Iterable[int], slot: int) -> None:
    """Give these processes a slot (0: none), in the loaded program's tgid table.
    One entry per tgid: no other writer shares it."""
    table = bpf["workload_of_tgid"]
    size = len(table)
    for pid in pids:
        if pid < size:
            table[table.Key(pid)] = table.Leaf(slot)


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
        self.list_children = list_children

    def __len__(self) -> int:
        return len(self.entries)

    def slot_of(self, key: str) -> int | None:
        entry = self.entries.get(key)
        return entry.slot if entry else None

    def ensure_room(self, workload: Workload) -> None:
        if not self.free_slots:
            raise TableFull(f"{workload.key} ({workload.identity.service} {workload.identity.version}) "
                            f"refused: all {len(self.entries)} workload slots are taken (max_workloads)")

    def add(self, workload: Workload) -> tuple[int, set[int]]:
        """Give the workload a slot and its processes that slot: (the slot, the
        processes found running). TableFull when no slot is free."""
        self.ensure_room(workload)
        entry = Entry(workload, self.free_slots.pop())
        self.entries[workload.key] = entry
        return entry.slot, self._seed(entry, with_process_trees=True)

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
        for cid in entry.cgroup_ids:
            try:
                del self.cgroup_slots[self.cgroup_slots.Key(cid)]
            except KeyError:
                pass
        self._clear_slot(entry.slot)
        return entry.slot

    def _clear_slot(self, slot: int) -> None:
        reader = BatchReader(self.tgid_slots, TGID_CHUNK)
        held: list[int] = []
        for n in reader.chunks():
            # the low half is the slot (the high half counts opens waiting for their sys_exit retry)
            rows = np.flatnonzero((reader.u64_values(n)[:, 0] & 0xFFFFFFFF) == slot)
            held += [int(reader.keys[row]) for row in rows]
        assign_slot(self.bpf, held, 0)

    def release(self, slot: int) -> None:
        self.free_slots.append(slot)
