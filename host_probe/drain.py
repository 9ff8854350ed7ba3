"""Read one window out of the kernel maps.

Counters in per-CPU arrays (syscalls, process changes, losses, offered events)
only ever grow: a window is the difference from the previous read, so nothing is
reset and no increment can fall between a read and a clear.

Detail keys live in two hashes (file opens, keyed by a path hash, and every
other detail), tagged with a generation. The drain flips the generation the
kernel writes under, waits out programs already running (they are short and
cannot sleep: a few milliseconds is ample), then reads and deletes the old
generation alone. Plain lookup-and-delete would lose an increment that lands
between the two; the swap cannot. File keys carry a path hash; the paths of a
generation are drained from file_paths alongside.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from host_probe.keys import LOSS_REASONS, PROCESS_CHANGES, feature_of, file_feature

GENERATION_GRACE_S = 0.005


@dataclass
class RawWindow:
    syscalls: Counter = field(default_factory=Counter)        # syscall name -> count
    details: Counter = field(default_factory=Counter)         # (kind, raw key) -> count
    processes: Counter = field(default_factory=Counter)       # fork/thread/exit/exec -> count
    losses: dict = field(default_factory=dict)                # reason -> count
    events_offered: int = 0


def _percpu_totals(table, size: int) -> list[int]:
    totals = [0] * size
    for key, values in table.items():
        totals[key.value] = sum(int(v) for v in values)
    return totals


class Counters:
    """Deltas of a monotonic per-CPU counter array since the previous read."""

    def __init__(self, table, size: int):
        self.table, self.size = table, size
        self.previous = _percpu_totals(table, size)

    def delta(self) -> list[int]:
        current = _percpu_totals(self.table, self.size)
        deltas = [now - before for now, before in zip(current, self.previous)]
        self.previous = current
        return deltas


class MapDrain:
    def __init__(self, bpf, syscall_names: dict[int, str]):
        self.bpf = bpf
        self.slots = len(bpf["syscall_counts"])
        self.names = [syscall_names.get(nr, f"unknown_{nr}") for nr in range(self.slots)]
        self.names[-1] = "unknown"  # the overflow slot (x32, out-of-range numbers)
        self.syscalls = Counters(bpf["syscall_counts"], self.slots)
        self.processes = Counters(bpf["process_counts"], len(PROCESS_CHANGES))
        self.losses = Counters(bpf["loss_counts"], len(LOSS_REASONS))
        self.offered = Counters(bpf["event_counts"], 1)
        self.generation_table = bpf["detail_generation"]
        self.details = bpf["detail_counts"]
        self.files = bpf["file_counts"]
        self.file_paths = bpf["file_paths"]
        self.generation = 0

    @staticmethod
    def _take_generation(table, generation: int) -> list:
        """(key, value) of one generation, deleted from the table."""
        taken = [(key, value) for key, value in table.items() if key.generation == generation]
        for key, _ in taken:
            try:
                del table[key]
            except KeyError:
                pass
        return taken

    def _drain_details(self) -> tuple[Counter, int]:
        """Details of the generation just closed, and opens whose path was lost."""
        old = self.generation
        self.generation ^= 1
        self.generation_table[self.generation_table.Key(0)] = self.generation_table.Leaf(self.generation)
        time.sleep(GENERATION_GRACE_S)
        counts: Counter = Counter()
        for key, count in self._take_generation(self.details, old):
            feature = feature_of(key)
            if feature:
                counts[feature] += int(count.value)
        paths = {key.path_hash: bytes(text.path) for key, text in self._take_generation(self.file_paths, old)}
        unnamed = 0
        for key, count in self._take_generation(self.files, old):
            path = paths.get(key.path_hash)
            if path is None:  # cannot happen short of a kernel bug; counted as a loss all the same
                unnamed += int(count.value)
            else:
                counts[file_feature(path, key.mode)] += int(count.value)
        return counts, unnamed

    def drain(self) -> RawWindow:
        window = RawWindow()
        window.details, unnamed = self._drain_details()
        for nr, count in enumerate(self.syscalls.delta()):
            if count:
                window.syscalls[self.names[nr]] += count
        window.processes = Counter({name: n for name, n in zip(PROCESS_CHANGES, self.processes.delta()) if n})
        window.losses = dict(zip(LOSS_REASONS, self.losses.delta()))
        window.losses["map_full"] += unnamed
        window.events_offered = self.offered.delta()[0]
        return window
