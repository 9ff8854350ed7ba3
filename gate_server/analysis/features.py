"""Profiles as matrices: one row per feature, one column per window, in rates.

A rate is events per 1000 syscalls in that window, so a canary taking 5 % of the
traffic compares fairly with a baseline taking 95 %. Every count is exact: the kernel
counts every event in its maps, and a window's `sample_every` samples only the
ring-buffer event stream (`host-probe record -v`), so no count is scaled by it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gate_contract.profile import FeatureKey, Profile

RATE_UNIT = 1000.0  # rates are per this many syscalls


@dataclass
class Side:
    """One profile as a features x windows matrix (rows follow FeatureMatrix.keys)."""

    rates: np.ndarray  # float64, features x windows
    windows_seen: np.ndarray  # int, per feature: windows with a non-zero count
    # float64, features x windows: counts per second of the window; NaN where a window's
    # length is not known (rates.windows_beyond_baseline tells a traffic share from a change)
    per_second: np.ndarray | None = None

    @property
    def window_count(self) -> int:
        return self.rates.shape[1]

    def mean_rates(self) -> np.ndarray:
        if self.window_count == 0:
            return np.zeros(self.rates.shape[0])
        return self.rates.mean(axis=1)


@dataclass
class FeatureMatrix:
    keys: list[FeatureKey]
    kinds: np.ndarray  # str, per feature
    baseline: Side
    canary: Side
    index: dict[FeatureKey, int]  # feature -> row

    def __len__(self) -> int:
        return len(self.keys)


def build_matrix(baseline: Profile, canary: Profile) -> FeatureMatrix:
    # Hashing the (kind, key) tuples is most of the judge's time, so each window's keys
    # are hashed as few times as possible: dense profiles list the same keys in the
    # same order window after window (the loader shares one tuple per feature), and a
    # list comparison by identity is far cheaper than hashing every tuple again.
    key_lists = [[list(w.counts) for w in profile.windows] for profile in (baseline, canary)]
    changed = [[i == 0 or keys[i] != keys[i - 1] for i in range(len(keys))] for keys in key_lists]
    distinct = [k for keys, flags in zip(key_lists, changed) for k, flag in zip(keys, flags) if flag]
    # Inventory features get rows too (all zero: held, never counted), so an anomaly about one has a row.
    held = [profile.inventory() for profile in (baseline, canary)]
    keys = sorted(set().union(*distinct, *held))  # sorted: row order never depends on hashing
    index = dict(zip(keys, range(len(keys))))
    kinds = np.array([kind for kind, _ in keys], dtype=object)
    sides = [_side(profile, _cells(profile, lists, flags, index), len(keys))
             for profile, lists, flags in zip((baseline, canary), key_lists, changed)]
    return FeatureMatrix(keys=keys, kinds=kinds, baseline=sides[0], canary=sides[1], index=index)


def _cells(profile: Profile, key_lists: list, changed: list, index: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    """(rows, counts) of each window."""
    cells = []
    rows = np.empty(0, dtype=np.intp)
    for window, keys, is_new in zip(profile.windows, key_lists, changed):
        if is_new:
            rows = np.fromiter(map(index.__getitem__, keys), dtype=np.intp, count=len(keys))
        cells.append((rows, np.fromiter(window.counts.values(), dtype=np.float64, count=len(keys))))
    return cells


def _side(profile: Profile, cells: list, features: int) -> Side:
    counts = np.zeros((features, len(profile.windows)), dtype=np.float64)
    for column, (rows, values) in enumerate(cells):
        counts[rows, column] = values
    windows_seen = np.count_nonzero(counts, axis=1)
    # A window without syscalls has nothing to normalise by; 1 keeps it finite.
    syscalls = np.array([max(1, w.syscalls_total) for w in profile.windows], dtype=np.float64)
    rates = counts / syscalls * RATE_UNIT
    seconds = np.array([_seconds(w.started_at, w.ended_at) for w in profile.windows], dtype=np.float64)
    return Side(rates=rates, windows_seen=windows_seen, per_second=counts / seconds)


def _seconds(started_at, ended_at) -> float:
    if started_at is None or ended_at is None:
        return float("nan")
    seconds = (ended_at - started_at).total_seconds()
    return seconds if seconds > 0 else float("nan")
