"""Read one window of every workload out of the kernel maps, in one pass.

Counters in per-CPU arrays (syscalls, process changes, losses; one block of
slots per workload) only ever grow: a window is the difference from the
previous read, so nothing is reset and no increment can fall between a read and
a clear. They are read whole with one BPF_MAP_LOOKUP_BATCH each, into numpy.

Detail keys live in two hashes (file opens, keyed by a path hash, and every
other detail), tagged with a generation and the workload's slot. The drain
flips the generation the kernel writes under, then waits for an RCU grace
period (membarrier(MEMBARRIER_CMD_GLOBAL) is synchronize_rcu(), and every BPF
tracing program runs inside an RCU read-side section): after it, no program
that read the old generation is still running, however long its vCPU was
preempted. Only then is the old generation read and deleted, so no increment
is lost and none lands in the wrong window.
"""

from __future__ import annotations

import ctypes
import platform
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from host_probe.kernel_contract import LOSS_REASONS, PROCESS_CHANGES, SYSCALL_SLOTS
from host_probe.kernel_keys import detail_feature, file_feature
from host_probe.map_batch import BatchReader, delete_keys

MEMBARRIER_CMD_GLOBAL = 1
MEMBARRIER_SYSCALL = {"x86_64": 324, "aarch64": 283}
# Where membarrier is refused (nohz_full kernels): programs run for microseconds.
FALLBACK_GRACE_S = 0.005
# entries read per bpf() call: 1.2 MB of buffer for detail_counts' 296-byte keys
CHUNK = 4096


@dataclass
class RawWindow:
    """One workload's window, its detail keys already normalised features."""

    syscalls: Counter = field(default_factory=Counter)        # syscall name -> count
    details: Counter = field(default_factory=Counter)         # (kind, normalised key) -> count
    processes: Counter = field(default_factory=Counter)       # fork/thread/exit/exec -> count
    losses: dict = field(default_factory=dict)                # reason -> count


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def wait_for_running_programs(libc=None) -> bool:
    """Return once every BPF program that started before the call has returned;
    False when the kernel refused membarrier and a short sleep stood in for it."""
    number = MEMBARRIER_SYSCALL.get(platform.machine())
    if number is not None and (libc or _libc()).syscall(number, MEMBARRIER_CMD_GLOBAL, 0) == 0:
        return True
    time.sleep(FALLBACK_GRACE_S)
    return False


class CounterDeltas:
    """Deltas of a monotonic per-CPU counter array since the previous read, as a
    (slots, per_slot) matrix."""

    def __init__(self, table, slots: int, per_slot: int):
        self.slots, self.per_slot = slots, per_slot
        self.reader = BatchReader(table, slots * per_slot)
        self.previous = self._read()

    def _read(self) -> np.ndarray:
        totals = np.zeros(self.slots * self.per_slot, dtype=np.uint64)
        for n in self.reader.chunks():  # an array is read in one chunk
            totals[:n] = self.reader.u64_values(n).sum(axis=1, dtype=np.uint64)
        return totals.reshape(self.slots, self.per_slot)

    def deltas(self) -> np.ndarray:
        current = self._read()
        deltas, self.previous = current - self.previous, current
        return deltas


class MapDrain:
    def __init__(self, bpf, syscall_names: dict[int, str], max_workloads: int, ephemeral_ports: tuple[int, int]):
        self.bpf = bpf
        self.slots = max_workloads + 1
        self.ephemeral_ports = ephemeral_ports
        self.names = [syscall_names.get(nr, f"unknown_{nr}") for nr in range(SYSCALL_SLOTS)]
        self.names[-1] = "unknown"  # the overflow slot (x32, out-of-range numbers)
        self.syscalls = CounterDeltas(bpf["syscall_counts"], self.slots, SYSCALL_SLOTS)
        self.processes = CounterDeltas(bpf["process_counts"], self.slots, len(PROCESS_CHANGES))
        self.losses = CounterDeltas(bpf["loss_counts"], self.slots, len(LOSS_REASONS))
        self.generation_table = bpf["detail_generation"]
        self.keys_used = bpf["detail_keys_used"]
        self.details = BatchReader(bpf["detail_counts"], CHUNK)
        self.files = BatchReader(bpf["file_counts"], CHUNK)
        self.file_paths = bpf["file_paths"]
        self.generation = 0
        self.fenced = True  # False once membarrier was refused and a sleep stood in
        # Normalising is the drain's costliest step; keys recur window after window.
        self._file_features: dict[tuple[int, int], tuple[str, str] | None] = {}
        self._detail_features: dict[bytes, tuple[str, str] | None] = {}

    def _flip_generation(self) -> int:
        old = self.generation
        self.generation ^= 1
        self.generation_table[self.generation_table.Key(0)] = self.generation_table.Leaf(self.generation)
        self.fenced = wait_for_running_programs() and self.fenced
        return old

    def _drain_details(self, old: int, windows: dict[int, RawWindow]) -> None:
        reader, taken_keys = self.details, []
        for n in reader.chunks():
            rows = reader.fields(n, ("generation", "slot"))
            counts, raw = reader.u64_values(n)[:, 0], reader.raw_keys(n)
            for row in np.flatnonzero(rows["generation"] == old):
                identity = raw[row, 4:].tobytes()  # all but the generation
                taken_keys.append(raw[row].tobytes())
                if identity not in self._detail_features:
                    self._detail_features[identity] = detail_feature(reader.keys[row], self.ephemeral_ports)
                feature, slot = self._detail_features[identity], int(rows["slot"][row])
                if feature and slot in windows:
                    windows[slot].details[feature] += int(counts[row])
        delete_keys(reader.table, b"".join(taken_keys))

    def _path_feature(self, generation: int, path_hash: int, mode: int) -> tuple[str, str] | None:
        cached = self._file_features.get((path_hash, mode))
        if cached is None:
            table = self.file_paths
            key = table.Key(generation=generation, mode=0, slot=0, path_hash=path_hash)
            try:
                cached = file_feature(bytes(table[key].path), mode)
            except KeyError:  # its path could not be stored (file_paths full)
                return None
            self._file_features[(path_hash, mode)] = cached
        return cached

    def _drain_files(self, old: int, windows: dict[int, RawWindow]) -> None:
        reader, taken_keys, hashes = self.files, [], set()
        for n in reader.chunks():
            rows = reader.fields(n, ("generation", "slot", "mode", "path_hash"))
            counts, raw = reader.u64_values(n)[:, 0], reader.raw_keys(n)
            for row in np.flatnonzero(rows["generation"] == old):
                taken_keys.append(raw[row].tobytes())
                path_hash, slot = int(rows["path_hash"][row]), int(rows["slot"][row])
                hashes.add(path_hash)
                feature = self._path_feature(old, path_hash, int(rows["mode"][row]))
                if slot not in windows:
                    continue
                if feature is None:  # counted as the loss it is
                    windows[slot].losses["map_full"] = windows[slot].losses.get("map_full", 0) + int(counts[row])
                else:
                    windows[slot].details[feature] += int(counts[row])
        delete_keys(reader.table, b"".join(taken_keys))
        path_key = self.file_paths.Key
        delete_keys(self.file_paths, b"".join(bytes(path_key(generation=old, mode=0, slot=0, path_hash=h))
                                              for h in hashes))
    def _release_budgets(self, old: int) -> None:
        for slot in range(1, self.slots):
            key = self.keys_used.Key(slot * 2 + old)
            if self.keys_used[key].value:
                self.keys_used[key] = self.keys_used.Leaf(0)

    def drain(self, slots: Iterable[int]) -> dict[int, RawWindow]:
        """One window for each of `slots` (the drain reads every slot regardless:
        counts of a slot not asked for are dropped, as that slot has no recording)."""
        windows = {slot: RawWindow() for slot in slots}
        old = self._flip_generation()
        self._drain_details(old, windows)
        self._drain_files(old, windows)
        self._release_budgets(old)
        syscalls, processes, losses = self.syscalls.deltas(), self.processes.deltas(), self.losses.deltas()
        for slot, window in windows.items():
            for nr in np.flatnonzero(syscalls[slot]):
                window.syscalls[self.names[nr]] += int(syscalls[slot][nr])
            window.processes = Counter({name: int(n) for name, n in zip(PROCESS_CHANGES, processes[slot]) if n})
            found = window.losses
            window.losses = {reason: int(n) + found.get(reason, 0) for reason, n in zip(LOSS_REASONS, losses[slot])}
        return windows
