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
import os
import platform
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from host_probe.keys.images import IMAGE_BUCKETS, image_id
from host_probe.kernel.contract import DRAIN_LOSSES, LOSS_REASONS, PROCESS_CHANGES, SYSCALL_SLOTS
from host_probe.keys.canonical import Canonicaliser
from host_probe.keys.kernel_keys import OpenedPath, c_text, detail_feature, file_feature
from host_probe.keys.normalise import normalise_path
from host_probe.kernel.lru_evictions import LruEvictions
from host_probe.kernel.map_batch import BatchReader, delete_keys

MAP_FULL = LOSS_REASONS[0]  # enum loss_reason's first slot: a kernel map had no room
MEMBARRIER_CMD_GLOBAL = 1
MEMBARRIER_SYSCALL = {"x86_64": 324, "aarch64": 283}
# Where membarrier is refused (nohz_full kernels): programs run for microseconds.
FALLBACK_GRACE_S = 0.005
# entries read per bpf() call: 1.2 MB of buffer for detail_counts' 296-byte keys
CHUNK = 4096
# new file keys looked up one by one up to this many; past it file_paths is read whole
PATH_LOOKUPS = 256
# new file keys resolved together (their paths read, made canonical, normalised)
NEW_KEYS_BATCH = 4096
# normalised features remembered per raw key; past it the memory starts again (raw
# keys that never recur, such as unique temp names, must not grow the agent forever)
FEATURE_CACHE_MAX = 200_000
MISSING = object()
# programs (exec image ids) remembered per drain; past it the memory starts again
IMAGE_PROGRAMS_MAX = 4096
SYSCALL_WORDS = SYSCALL_SLOTS // 64


def _bounded(cache: dict) -> dict:
    if len(cache) > FEATURE_CACHE_MAX:
        cache.clear()
    return cache


@dataclass
class RawWindow:
    """One workload's window, its detail keys already normalised features."""

    syscalls: Counter = field(default_factory=Counter)        # syscall name -> count
    details: Counter = field(default_factory=Counter)         # (kind, normalised key) -> count
    processes: Counter = field(default_factory=Counter)       # fork/thread/exit/exec -> count
    losses: dict = field(default_factory=dict)                # reason -> count
    # Lineage (probe.h): exec image id -> the features its processes made this window
    # (syscalls included), and (exec'ing image id, exec'd image id) for each exec.
    image_features: dict = field(default_factory=dict)
    exec_edges: set = field(default_factory=set)
    programs: dict = field(default_factory=dict)              # image id -> its ("exec", key)

    def attribute(self, image: int, features) -> None:
        """Image 0: processes the probe did not see exec (attached while running)."""
        self.image_features.setdefault(image, set()).update(features)


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


class FileFeatureIds:
    """(slot, path hash, mode) -> a feature id, looked up for a whole window at once
    (np.searchsorted over a sorted array of known keys); features[id] is the
    normalised ("file", "<path>:<mode>"). The hash is seeded per load. The slot is
    part of the key because a path is resolved in its workload's view (two
    containers' /etc/app.conf are two files). Keys are remembered for one window
    only (forget_keys at every drain): a path resolves to what its links point to
    now, and a config link re-pointed at a secret after the first window must not
    keep its first meaning. Features (and their ids) are kept."""

    def __init__(self):
        self.keys = np.zeros(0, dtype=np.uint64)
        self.key_ids = np.zeros(0, dtype=np.int64)
        self.features: list[tuple[str, str]] = []
        self.feature_ids: dict[tuple[str, str], int] = {}

    @staticmethod
    def _combined(hashes: np.ndarray, modes: np.ndarray, slots: np.ndarray) -> np.ndarray:
        # the seeded hash is uniform: folding the 2-bit mode and the 8-bit slot in
        # with an odd constant keeps (hash, mode, slot) apart but for a 2^-64 chance
        tag = (slots.astype(np.uint64) << np.uint64(2)) | modes.astype(np.uint64)
        return hashes ^ (tag * np.uint64(0x9E3779B97F4A7C15))

    def forget_keys(self) -> None:
        self.keys = np.zeros(0, dtype=np.uint64)
        self.key_ids = np.zeros(0, dtype=np.int64)

    def _lookup(self, combined: np.ndarray) -> np.ndarray:
        if not len(self.keys):
            return np.full(len(combined), -1, dtype=np.int64)
        positions = np.minimum(np.searchsorted(self.keys, combined), len(self.keys) - 1)
        return np.where(self.keys[positions] == combined, self.key_ids[positions], -1)

    def _id_of(self, feature: tuple[str, str]) -> int:
        if feature not in self.feature_ids:
            self.feature_ids[feature] = len(self.features)
            self.features.append(feature)
        return self.feature_ids[feature]

    def ids(self, hashes: np.ndarray, modes: np.ndarray, slots: np.ndarray, features_of) -> np.ndarray:
        """Feature ids (-1 where the path is unknown). `features_of(keys)` gives, for
        (slot, hash, mode) keys never seen, (feature, resolved?) by key."""
        combined = self._combined(hashes, modes, slots)
        ids = self._lookup(combined)
        unknown = ids < 0
        if not unknown.any():
            return ids
        if len(self.keys) > FEATURE_CACHE_MAX or len(self.features) > 2 * FEATURE_CACHE_MAX:
            self.__init__()
            ids, unknown = np.full(len(combined), -1, dtype=np.int64), np.ones(len(combined), dtype=bool)
        new, first = np.unique(combined[unknown], return_index=True)
        new_slots, new_hashes, new_modes = (column[unknown][first].tolist() for column in (slots, hashes, modes))
        new_ids: dict[int, int] = {}
        added_keys, added_ids = [], []
        # a burst of new keys (a first window) is resolved a batch at a time, so its
        # transient objects (paths, canonical forms) are bounded, not one per key
        for begin in range(0, len(new), NEW_KEYS_BATCH):
            end = begin + NEW_KEYS_BATCH
            keys = list(zip(new_slots[begin:end], new_hashes[begin:end], new_modes[begin:end]))
            found = features_of(keys)
            for combined_key, key in zip(new[begin:end].tolist(), keys):
                if key not in found:
                    continue
                feature, resolved = found[key]
                new_ids[combined_key] = self._id_of(feature)
                if resolved:
                    added_keys.append(combined_key)
                    added_ids.append(new_ids[combined_key])
            del keys, found
        if added_keys:
            all_keys = np.concatenate([self.keys, np.array(added_keys, dtype=np.uint64)])
            key_ids = np.concatenate([self.key_ids, np.array(added_ids, dtype=np.int64)])
            order = np.argsort(all_keys, kind="stable")
            self.keys, self.key_ids = all_keys[order], key_ids[order]
        positions = np.flatnonzero(unknown)
        ids[positions] = [new_ids.get(key, -1) for key in combined[positions].tolist()]
        return ids


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
        self.evictions = LruEvictions(bpf, self.slots)
        self.generation_table = bpf["detail_generation"]
        self.keys_used = bpf["detail_keys_used"]
        self.details = BatchReader(bpf["detail_counts"], CHUNK)
        self.files = BatchReader(bpf["file_counts"], CHUNK)
        self.file_paths = bpf["file_paths"]
        self.path_reader = BatchReader(self.file_paths, CHUNK)
        self.generation = 0
        self.fenced = True  # False once membarrier was refused and a sleep stood in
        # Normalising is the drain's costliest step; keys recur window after window.
        self.file_ids = FileFeatureIds()
        self.canonical = Canonicaliser()
        self._detail_features: dict[bytes, tuple[str, str] | None] = {}
        self.image_syscalls = BatchReader(bpf["image_syscalls"], 2 * self.slots * IMAGE_BUCKETS * SYSCALL_WORDS)
        self.image_buckets = bpf["image_buckets"]
        self.image_seed = int.from_bytes(os.urandom(4), "little")
        seed_table = bpf["image_seed"]
        seed_table[seed_table.Key(0)] = seed_table.Leaf(self.image_seed)
        self.programs: dict[tuple[int, int], tuple[str, str]] = {}  # (slot, image id) -> ("exec", key)

    def _flip_generation(self) -> int:
        old = self.generation
        self.generation ^= 1
        self.generation_table[self.generation_table.Key(0)] = self.generation_table.Leaf(self.generation)
        self.fenced = wait_for_running_programs() and self.fenced
        return old

    def _drain_details(self, old: int, windows: dict[int, RawWindow]) -> None:
        reader, taken_keys = self.details, []
        cache = _bounded(self._detail_features)
        for n in reader.chunks():
            rows = reader.fields(n, ("generation", "slot"))
            taken = np.flatnonzero(rows["generation"] == old)
            raw = reader.raw_keys(n)[taken]
            taken_keys.append(raw.tobytes())
            counts = reader.u64_values(n)[taken, 0].tolist()
            for index, (row, slot, count) in enumerate(zip(taken.tolist(), rows["slot"][taken].tolist(), counts)):
                identity = raw[index, 4:].tobytes()  # all but the generation
                feature = cache.get(identity, MISSING)
                if feature is MISSING:
                    feature = cache[identity] = self._detail_feature(reader.keys[row], slot)
                window = windows.get(slot)
                if feature and window is not None:
                    window.details[feature] += count
                    image = int(reader.keys[row].image)
                    window.attribute(image, (feature,))
                    if feature[0] == "exec":
                        self._learn_program(window, slot, image, reader.keys[row], feature)
        delete_keys(reader.table, b"".join(taken_keys))

    def _learn_program(self, window: RawWindow, slot: int, parent: int, key, feature) -> None:
        """An exec key names the program its image id stands for from now on, and who started it."""
        started = image_id(bytes(key.path).split(b"\0", 1)[0], self.image_seed)
        if len(self.programs) > IMAGE_PROGRAMS_MAX:
            self.programs.clear()
        self.programs[slot, started] = feature
        window.exec_edges.add((parent, started))

    def _detail_feature(self, key, slot: int):
        feature = detail_feature(key, self.ephemeral_ports)
        if feature and feature[0] == "exec":
            # keyed by the file that runs, as the inventory's /proc/<pid>/exe is: a program
            # started through a symlink is the same program (the -v stream keeps the name invoked)
            return "exec", normalise_path(self.canonical.program(c_text(key.path), slot))
        return feature

    def _paths(self, wanted: list[tuple[int, int]]) -> dict[tuple[int, int], OpenedPath]:
        """The paths of file keys, by (slot, hash): looked up one by one when few are
        new, read whole when many are (a first window, a burst of new files). The
        paths are not drained: a key's path was written when the key was (in the
        window being drained, so after its grace period), and stays until the table
        is full and it is the least recently used."""
        table = self.file_paths
        if len(wanted) <= PATH_LOOKUPS:
            found = {}
            for slot, path_hash in wanted:
                try:
                    leaf = table[table.Key(slot=slot, path_hash=path_hash)]
                except KeyError:  # its path could not be stored, or was dropped (file_paths full)
                    continue
                found[slot, path_hash] = OpenedPath.from_leaf(leaf)
            return found
        wanted_set, found = set(wanted), {}
        reader = self.path_reader
        for n in reader.chunks():
            rows = reader.fields(n, ("slot", "path_hash"))
            for row, slot, path_hash in zip(range(n), rows["slot"].tolist(), rows["path_hash"].tolist()):
                if (slot, path_hash) in wanted_set:
                    found[slot, path_hash] = OpenedPath.from_leaf(reader.values[row])
        return found

    def _file_features(self, keys: list[tuple[int, int, int]]) -> dict:
        """(feature, resolved?) of new (slot, hash, mode) keys: each path made canonical
        once, in its opener's view, then normalised."""
        opened = self._paths(sorted({(slot, path_hash) for slot, path_hash, _ in keys}))
        canonical: dict[tuple[int, int], tuple[str, bool]] = {}
        features = {}
        for slot, path_hash, mode in keys:
            path = opened.get((slot, path_hash))
            if path is None:
                continue
            if (slot, path_hash) not in canonical:
                canonical[slot, path_hash] = path.canonical(self.canonical, slot)
            text, resolved = canonical[slot, path_hash]
            features[slot, path_hash, mode] = (file_feature(text, mode, resolved), resolved)
        return features

    def _drain_files(self, old: int, windows: dict[int, RawWindow]) -> None:
        """File keys are the many: 32 workloads of 1 000 files each is 32 000 keys a
        window, so they are aggregated with numpy, and only keys never seen before
        (their paths, their normalisation) take a Python step each."""
        reader, taken_keys, parts = self.files, [], []
        for n in reader.chunks():
            rows = reader.fields(n, ("generation", "slot", "mode", "path_hash", "image"))
            taken = np.flatnonzero(rows["generation"] == old)
            taken_keys.append(reader.raw_keys(n)[taken].tobytes())
            chosen = rows[taken]
            parts.append((chosen["slot"].astype(np.int64), chosen["mode"].astype(np.uint64),
                          chosen["path_hash"].copy(), reader.u64_values(n)[taken, 0].astype(np.int64),
                          chosen["image"].astype(np.int64)))
        if not parts or not sum(len(part[0]) for part in parts):
            return
        slots, modes, hashes, counts, images = (np.concatenate(column) for column in zip(*parts))
        ids = self.file_ids.ids(hashes, modes, slots, self._file_features)
        known = ids >= 0
        lost = np.bincount(slots[~known], weights=counts[~known], minlength=self.slots)
        for slot in np.flatnonzero(lost).tolist():  # paths file_paths could not store: counted losses
            if slot in windows:
                windows[slot].losses[MAP_FULL] = windows[slot].losses.get(MAP_FULL, 0) + int(lost[slot])
        self._add_file_totals(slots[known], ids[known], counts[known], windows)
        self._attribute_files(slots[known], images[known], ids[known], windows)
        delete_keys(reader.table, b"".join(taken_keys))

    def _attribute_files(self, slots: np.ndarray, images: np.ndarray, ids: np.ndarray,
                         windows: dict[int, RawWindow]) -> None:
        """Which program opened each file: one step per distinct (workload, named image, file)."""
        features = self.file_ids.features
        tagged = images > 0
        # processes not seen exec (image 0) open most files of an attached workload: only the
        # files a named program opened too are looked at one by one
        pairs = slots << 32 | ids
        shared = np.intersect1d(pairs[tagged], pairs[~tagged])
        shared = (shared >> 32) << 48 | (shared & 0xFFFFFFFF)  # as (slot, image 0, file) triples
        triples = np.concatenate([slots[tagged] << 48 | images[tagged] << 32 | ids[tagged], shared])
        for triple in np.unique(triples).tolist():
            window = windows.get(triple >> 48)
            if window is not None:
                window.attribute((triple >> 32) & 0xFFFF, (features[triple & 0xFFFFFFFF],))

    def _add_file_totals(self, slots: np.ndarray, ids: np.ndarray, counts: np.ndarray,
                         windows: dict[int, RawWindow]) -> None:
        """Sum counts by (slot, feature id) and add them to the windows, a workload's
        features at once: tens of thousands of Counter increments one by one were
        most of a drain's Python time."""
        pairs, inverse = np.unique(slots << 32 | ids, return_inverse=True)
        totals = np.bincount(inverse, weights=counts).astype(np.int64)
        pair_slots = pairs >> 32
        features = self.file_ids.features
        for slot in np.unique(pair_slots).tolist():
            window = windows.get(slot)
            if window is None:
                continue
            begin, end = np.searchsorted(pair_slots, [slot, slot + 1])
            names = [features[i] for i in (pairs[begin:end] & 0xFFFFFFFF).tolist()]
            found = zip(names, totals[begin:end].tolist())
            if any(kind == "file" for kind, _ in window.details):
                window.details.update(dict(found))
            else:  # distinct features, none there yet: a plain dict update (in C) adds them
                dict.update(window.details, found)

    def _release_budgets(self, old: int) -> None:
        for slot in range(1, self.slots):
            key = self.keys_used.Key(slot * 2 + old)
            if self.keys_used[key].value:
                self.keys_used[key] = self.keys_used.Leaf(0)

    def _drain_image_syscalls(self, old: int, windows: dict[int, RawWindow]) -> None:
        """The syscalls each program made, from the old generation's bits, which are then
        zeroed. A bucket that two programs of the workload share says nothing of either."""
        reader = self.image_syscalls
        bits = np.zeros((reader.chunk, 1), dtype=np.uint64)
        for n in reader.chunks():  # an array is read in one chunk
            bits = np.bitwise_or.reduce(reader.u64_values(n), axis=1)
        bits = bits.reshape(2, self.slots, IMAGE_BUCKETS, SYSCALL_WORDS)[old]
        table = reader.table
        base = old * self.slots * IMAGE_BUCKETS * SYSCALL_WORDS
        for index in np.flatnonzero(bits.reshape(-1)).tolist():
            table[table.Key(base + index)] = table.Leaf()
        images_by_bucket: dict[tuple[int, int], set[int]] = {}
        buckets = self.image_buckets
        for ref, image_bucket in buckets.items():
            images_by_bucket.setdefault((ref.slot, image_bucket.value), set()).add(ref.image)
        for slot, window in windows.items():
            for image_bucket in np.flatnonzero(bits[slot].any(axis=1)).tolist():
                images = images_by_bucket.get((slot, image_bucket), {0} if image_bucket == 0 else set())
                if len(images) != 1:
                    continue
                numbers = np.flatnonzero(np.unpackbits(bits[slot, image_bucket].view(np.uint8), bitorder="little"))
                window.attribute(next(iter(images)), (("syscall", self.names[nr]) for nr in numbers.tolist()))

    def drain(self, slots: Iterable[int]) -> dict[int, RawWindow]:
        """One window for each of `slots` (the drain reads every slot regardless:
        counts of a slot not asked for are dropped, as that slot has no recording)."""
        windows = {slot: RawWindow() for slot in slots}
        self.canonical.new_drain()
        self.file_ids.forget_keys()
        old = self._flip_generation()
        self._drain_details(old, windows)
        self._drain_files(old, windows)
        self._drain_image_syscalls(old, windows)
        self._release_budgets(old)
        syscalls, processes, losses = self.syscalls.deltas(), self.processes.deltas(), self.losses.deltas()
        evictions = self.evictions.drain()
        for slot, window in windows.items():
            for nr in np.flatnonzero(syscalls[slot]):
                window.syscalls[self.names[nr]] += int(syscalls[slot][nr])
            window.processes = Counter({name: int(n) for name, n in zip(PROCESS_CHANGES, processes[slot]) if n})
            found = window.losses
            window.losses = {reason: int(n) + found.get(reason, 0) for reason, n in zip(LOSS_REASONS, losses[slot])}
            window.losses.update({name: 0 for name in DRAIN_LOSSES} | evictions.get(slot, {}))
            named = (set(window.image_features) - {0}).union(*window.exec_edges)
            window.programs = {image: self.programs[slot, image] for image in named if (slot, image) in self.programs}
        return windows
