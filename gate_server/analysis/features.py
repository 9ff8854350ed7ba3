"""Profiles as matrices: one row per feature, one column per window, in rates.

A rate is events per 1000 syscalls in that window, so a canary taking 5 % of the
traffic compares fairly with a baseline taking 95 %. Detail events (every kind but
`syscall`, which the kernel counts exactly) may be sampled 1-in-N by the probe; their
counts are scaled back by the window's `sample_every` before dividing.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain

import numpy as np

from gate_server.analysis.profile import FeatureKey, Profile

RATE_UNIT = 1000.0  # rates are per this many syscalls


@dataclass
class Side:
    """One profile as a features x windows matrix (rows follow FeatureMatrix.keys)."""

    rates: np.ndarray  # float64, features x windows
    windows_seen: np.ndarray  # int, per feature: windows with a non-zero count

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

    def __len__(self) -> int:
        return len(self.keys)


def build_matrix(baseline: Profile, canary: Profile) -> FeatureMatrix:
    # Hashing the (kind, key) tuples here is most of the judge's time; set.union
    # measured fastest. Sorted so rows (and ties in the output) are deterministic.
    keys = sorted(set().union(*(w.counts.keys() for w in chain(baseline.windows, canary.windows))))
    index = dict(zip(keys, range(len(keys))))
    kinds = np.array([kind for kind, _ in keys], dtype=object)
    is_detail = kinds != "syscall"
    return FeatureMatrix(
        keys=keys,
        kinds=kinds,
        baseline=_side(baseline, index, is_detail),
        canary=_side(canary, index, is_detail),
    )


def _side(profile: Profile, index: dict[FeatureKey, int], is_detail: np.ndarray) -> Side:
    counts = np.zeros((len(index), len(profile.windows)), dtype=np.float64)
    for column, window in enumerate(profile.windows):
        if not window.counts:
            continue
        size = len(window.counts)
        rows = np.fromiter(map(index.__getitem__, window.counts), dtype=np.intp, count=size)
        counts[rows, column] = np.fromiter(window.counts.values(), dtype=np.float64, count=size)
    windows_seen = np.count_nonzero(counts, axis=1)
    sample_every = np.array([max(1, w.sample_every) for w in profile.windows], dtype=np.float64)
    if (sample_every != 1).any():
        counts[is_detail] *= sample_every
    # A window without syscalls has nothing to normalise by; 1 keeps it finite.
    syscalls = np.array([max(1, w.syscalls_total) for w in profile.windows], dtype=np.float64)
    rates = counts / syscalls * RATE_UNIT
    return Side(rates=rates, windows_seen=windows_seen)
