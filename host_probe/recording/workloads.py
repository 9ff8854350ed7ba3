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
    """A cgroup path set aside for a workload before it exists."""
    slot: int
    key: object  # the kernel map's key: the path, NUL-padded


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

    def __len__(self) -> int:
        return len(self.entries)

    def slot_of(self, key: str) -> int | None:
        entry = self.entries.get(key)
        return entry.slot if entry else None

    def ensure_room(self, workload: Workload) -> None:
        if not self.free_slots:
            raise TableFull(f"{workload.key} ({workload.identity.service} {workload.identity.version}) "
                            f"refused: all {len(self.entries)} workload slots are taken (max_workloads)")

    def expect(self, workload: Workload, cgroup_root: Path) -> bool:
        """Set a slot aside for a cgroup workload whose directory is not made yet, and
        have the kernel register the directory as it is made. False when no slot is
        free or the path is too long for the kernel's key (it is then found by polling)."""
        from host_probe.kernel.loader import EXPECTED_CGROUP_PATH

        if workload.key in self.expected or workload.key in self.entries or not self.free_slots:
            return workload.key in self.expected
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
        try:
            return int(self.bpf["expected_cgroups"][expected.key].cgroup_id)
        except KeyError:
            return 0

    def unexpect(self, key: str) -> None:
        """No longer expected (removed from the config, or made and now added): its slot
        back, unless add() took it."""
        expected = self.expected.pop(key)
        cgroup_id = 0
        try:
            cgroup_id = int(self.bpf["expected_cgroups"][expected.key].cgroup_id)
            del self.bpf["expected_cgroups"][expected.key]
        except KeyError:
            pass
        if key not in self.entries:
            if cgroup_id:
                self._forget_cgroups({cgroup_id})
            self._clear_slot(expected.slot)
            self.free_slots.append(expected.slot)

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
