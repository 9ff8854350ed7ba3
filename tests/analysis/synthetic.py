"""Synthetic profiles of a small web service, for the judge's tests.

Counts are Poisson draws around a fixed behaviour (syscall mix, files, one
database, thread churn), so two profiles with different seeds are two healthy
deploys of the same code: what the judge must pass.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from gate_contract.profile import FeatureKey, Profile, WindowCounts

# Share of all syscalls per syscall name.
SYSCALL_MIX = {
    "read": 0.18, "write": 0.12, "epoll_wait": 0.15, "futex": 0.10, "recvfrom": 0.10,
    "sendto": 0.10, "openat": 0.05, "close": 0.06, "fstat": 0.04, "accept4": 0.03,
    "mmap": 0.02, "clock_gettime": 0.05,
}
# Detail events per request (a request is ~100 syscalls).
PER_REQUEST = {
    ("file", "/srv/static/<n>.html:r"): 0.5,
    ("file", "/var/log/app/<n>.log:w"): 0.02,
    ("connect", "inet:10.0.0.5:5432"): 0.05,
    ("socket", "inet/stream"): 0.05,
}
STARTUP = {  # once, in the first window of a recording that starts with the service
    ("listen", "inet:0.0.0.0:8080"): 1, ("bind", "inet:0.0.0.0:8080"): 1,
    ("file", "/etc/app/config.yml:r"): 1,
}

Extra = Callable[[int], dict[FeatureKey, int]]


def service_profile(
    version: str = "v1",
    windows: int = 30,
    syscalls_per_window: int = 100_000,
    seed: int = 0,
    extra: Optional[Extra] = None,
    with_startup: bool = True,
    thread_churn: int = 40,
    sample_every: int = 1,
    lost_per_window: int = 0,
    stream_lost_per_window: int = 0,
    mix: Optional[dict[str, float]] = None,
) -> Profile:
    """`mix` adds to or overrides SYSCALL_MIX (share of syscalls per name)."""
    rng = np.random.default_rng(seed)
    syscall_mix = {**SYSCALL_MIX, **(mix or {})}
    result = []
    for index in range(windows):
        volume = syscalls_per_window * rng.uniform(0.8, 1.2)
        counts: dict[FeatureKey, int] = {
            ("syscall", name): int(rng.poisson(volume * share)) for name, share in syscall_mix.items()
        }
        requests = volume / 100
        for key, per_request in PER_REQUEST.items():
            # The kernel counts every detail event; `sample_every` samples only the
            # ring-buffer event stream (record -v), so it leaves counts alone.
            counts[key] = int(rng.poisson(requests * per_request)) + 1
        counts[("process", "thread")] = int(rng.integers(0, thread_churn + 1))
        counts[("process", "exit")] = int(rng.integers(0, thread_churn + 1))
        if with_startup and index == 0:
            counts.update(STARTUP)
        for key, count in (extra(index) if extra else {}).items():
            counts[key] = counts.get(key, 0) + count
        syscalls = sum(n for (kind, _), n in counts.items() if kind == "syscall")
        counts = {key: n for key, n in counts.items() if n > 0}
        events = sum(n for (kind, _), n in counts.items() if kind != "syscall")
        drops = {"map_full": lost_per_window, "ringbuf_reserve_failed": stream_lost_per_window}
        result.append(WindowCounts(counts=counts, syscalls_total=syscalls, events_total=events,
                                   sample_every=sample_every, drops=drops))
    return Profile(service="shop", version=version, windows=result)


def canary_profile(extra: Optional[Extra] = None, **options) -> Profile:
    """A canary: another deploy (another seed), 10 windows at 5 % of the baseline's traffic."""
    settings = {"version": "v2", "windows": 10, "syscalls_per_window": 5_000, "seed": 1}
    settings.update(options)
    return service_profile(extra=extra, **settings)


def in_windows(key: FeatureKey, windows, count: int = 1) -> Extra:
    """An extra feature seen `count` times in each of the given window indexes."""
    chosen = set(windows)
    return lambda index: {key: count} if index in chosen else {}
