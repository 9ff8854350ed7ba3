"""Windows that are whole: a stub window is merged into its neighbour before judging.

A recording's last window ends when the workload goes or the recording stops, and a
workload the agent adds mid-window has a short first one: 0.1 s of a 10 s window in
which nothing is seen makes "in 8 of 9 windows" out of a change seen all along
(issue 23). A window shorter than half the profile's typical (median) window is not
a sample of its own: its counts go into the window before it (after it, for a
first window), and the verdict's notes say how many were merged.
"""

from __future__ import annotations

from dataclasses import replace
from statistics import median

from gate_contract.profile import Profile, WindowCounts

STUB_FRACTION = 0.5


def _duration(window: WindowCounts) -> float | None:
    if window.started_at is None or window.ended_at is None:
        return None
    return (window.ended_at - window.started_at).total_seconds()


def _merged(first: WindowCounts, second: WindowCounts) -> WindowCounts:
    counts = dict(first.counts)
    for key, n in second.counts.items():
        counts[key] = counts.get(key, 0) + n
    drops = dict(first.drops)
    for reason, n in second.drops.items():
        drops[reason] = drops.get(reason, 0) + n
    starts = [w.started_at for w in (first, second) if w.started_at is not None]
    ends = [w.ended_at for w in (first, second) if w.ended_at is not None]
    # the later start: a restart between the two makes the merged window's workload younger
    workload_starts = [w.workload_started_at for w in (first, second) if w.workload_started_at is not None]
    return replace(
        first, counts=counts, drops=drops,
        syscalls_total=first.syscalls_total + second.syscalls_total,
        events_total=first.events_total + second.events_total,
        sample_every=max(first.sample_every, second.sample_every),
        started_at=min(starts) if starts else None, ended_at=max(ends) if ends else None,
        workload_started_at=max(workload_starts) if workload_starts else None,
        startup=first.startup or second.startup, inventory=first.inventory | second.inventory,
        hooks={**second.hooks, **first.hooks}, programs=first.programs + second.programs,
        unnamed=first.unnamed | second.unnamed,
    )


def merge_stub_windows(profile: Profile) -> tuple[Profile, int, float]:
    """(the profile with every stub window merged into a neighbour, how many were merged,
    the typical window's length in seconds). Windows without times are left alone."""
    durations = [_duration(w) for w in profile.windows]
    known = [d for d in durations if d is not None and d > 0]
    if len(profile.windows) < 2 or not known:
        return profile, 0, 0.0
    typical = median(known)
    merged: list[WindowCounts] = []
    carried: WindowCounts | None = None  # a stub at the start, waiting for the window after it
    stubs = 0
    for window, duration in zip(profile.windows, durations):
        is_stub = duration is not None and duration < STUB_FRACTION * typical
        if carried is not None:
            window, carried = _merged(window, carried), None
        elif is_stub:
            stubs += 1
            if merged:
                merged[-1] = _merged(merged[-1], window)
            else:
                carried = window
            continue
        merged.append(window)
    if carried is not None:  # every window a stub but this one: nothing to merge into
        merged.append(carried)
    return replace(profile, windows=merged), stubs, typical


def stub_note(side: str, stubs: int, typical: float) -> list[str]:
    if not stubs:
        return []
    return [f"{side}: {stubs} window{'s' if stubs != 1 else ''} shorter than half a window "
            f"({STUB_FRACTION * typical:g} s of {typical:g} s) merged into "
            f"{'their neighbours' if stubs != 1 else 'its neighbour'}: a stub window is not a sample"]
