"""Evictions from the kernel's LRU maps, counted as losses (issue 13).

An LRU hash evicts an entry to make room without telling anyone: BPF cannot
see it happen. So the kernel counts, per workload and map, every entry it adds
and every entry it removes (bpf/probe.bpf.c's lru_changes), and each drain counts
the entries still present: added - removed - present were evicted. The kernel
counts an addition after the entry is in and a removal before it goes, and the
drain reads "added" before it counts the entries and "removed" after, so a
count taken while programs run can only fall short for a moment (made up at a
later drain), never invent an eviction.

What an eviction means, by map:
- bound_sockets (a unix socket's bound path, for its listen): the address of a
  socket bound earlier, perhaps closed since (nothing removes a closed socket's
  entry), so an upper bound of the listens that lost their key: `lru_evicted`;
- clone_flags_by_tid (a clone's flags until its child appears): a pending clone
  whose child will be counted as a fork, thread or not: `lru_evicted`;
- pending_argv0 (argv[0] until the exec, for `record -v`): the event stream's
  loss only: `argv0_evicted`.
An entry is charged to the workload it was added for.
"""

from __future__ import annotations

import ctypes

import numpy as np

from host_probe.kernel.contract import LRU_CHANGES, LRU_MAPS
from host_probe.kernel.map_batch import BatchReader

# LRU map (enum lru_map order) -> its bcc table name and the loss its evictions are.
TABLES = {"bound_sockets": "bound_sockets", "clone_flags": "clone_flags_by_tid", "argv0": "pending_argv0"}
LOSS_OF = {"bound_sockets": "lru_evicted", "clone_flags": "lru_evicted", "argv0": "argv0_evicted"}
# The maps hold 4096 entries at most: one read each.
CHUNK = 4096


def _slot_column(reader: BatchReader, n: int) -> np.ndarray:
    """The `slot` field of the first n values."""
    leaf = reader.table.Leaf
    field = leaf.slot
    size = ctypes.sizeof(leaf)
    raw = np.frombuffer(reader.values, dtype=np.uint8).reshape(reader.chunk, size)[:n]
    dtype = {2: np.uint16, 4: np.uint32}[field.size]
    return np.ascontiguousarray(raw[:, field.offset:field.offset + field.size]).view(dtype).ravel()


class LruEvictions:
    def __init__(self, bpf, slots: int):
        self.slots = slots
        self.changes = BatchReader(bpf["lru_changes"], slots * len(LRU_MAPS) * len(LRU_CHANGES))
        self.readers = [BatchReader(bpf[TABLES[name]], CHUNK) for name in LRU_MAPS]
        self.reported = np.zeros((slots, len(LRU_MAPS)), dtype=np.int64)

    def _changes(self) -> np.ndarray:
        """(slots, maps, added/removed) totals over every CPU."""
        totals = np.zeros(self.slots * len(LRU_MAPS) * len(LRU_CHANGES), dtype=np.int64)
        for n in self.changes.chunks():
            totals[:n] = self.changes.u64_values(n).sum(axis=1, dtype=np.uint64).astype(np.int64)
        return totals.reshape(self.slots, len(LRU_MAPS), len(LRU_CHANGES))

    def _present(self) -> np.ndarray:
        present = np.zeros((self.slots, len(LRU_MAPS)), dtype=np.int64)
        for column, reader in enumerate(self.readers):
            for n in reader.chunks():
                slots = _slot_column(reader, n)
                slots = slots[slots < self.slots]
                present[:, column] += np.bincount(slots, minlength=self.slots)[:self.slots]
        return present

    def drain(self) -> dict[int, dict[str, int]]:
        """Evictions since the previous drain: slot -> {loss name: count}."""
        added = self._changes()[:, :, 0]
        present = self._present()
        removed = self._changes()[:, :, 1]
        evicted = np.maximum(added - removed - present, 0)
        new = np.maximum(evicted - self.reported, 0)
        self.reported = np.maximum(self.reported, evicted)
        losses: dict[int, dict[str, int]] = {}
        for slot, column in zip(*np.nonzero(new)):
            name = LOSS_OF[LRU_MAPS[column]]
            per_slot = losses.setdefault(int(slot), {})
            per_slot[name] = per_slot.get(name, 0) + int(new[slot, column])
        return losses
