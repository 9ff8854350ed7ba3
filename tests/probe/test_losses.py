"""Losses are counted by category, never hidden: every ring-buffer event offered
(one per fork, exec and group exit in scope) is either delivered or counted as
sampled out, rate-limited, or refused by a full ring buffer."""

from __future__ import annotations

from collections import Counter

from tests.probe.conftest import DETAIL_KINDS, record_workload

FORKS = 400
# the losses of the ring-buffer path (map_full and unreadable are losses of details)
RINGBUF_LOSSES = ("sampled_out", "rate_limited", "ringbuf_reserve_failed")


def _record_fork_flood(tmp_path, version: str, *options: str, mode: str = "forks"):
    return record_workload(tmp_path, version, [mode, "--count", str(FORKS)], *options)


def _accounting(profile) -> tuple[int, int, Counter]:
    offered = delivered = 0
    lost: Counter = Counter()
    for window in profile.windows:
        processes = {key: n for (kind, key), n in window.counts.items() if kind == "process"}
        offered += processes.get("fork", 0) + processes.get("exec", 0) + processes.get("exit", 0)
        details = sum(n for (kind, _), n in window.counts.items() if kind in DETAIL_KINDS)
        delivered += window.events_total - details
        lost.update({reason: window.drops.get(reason, 0) for reason in RINGBUF_LOSSES})
    return offered, delivered, lost


def test_sampling_and_rate_limit_losses_are_counted(ebpf, tmp_path):
    profile = _record_fork_flood(tmp_path, "limited", "--sample", "2", "--rate-limit", "20")
    offered, delivered, lost = _accounting(profile)
    assert offered >= 2 * FORKS  # each child's fork and exit
    assert lost["sampled_out"] > 0
    assert lost["rate_limited"] > 0
    assert delivered + sum(lost.values()) == offered
    # sampling thins the -v event stream only: the kernel counts every detail, so
    # the windows say 1 and the judge never scales their counts
    assert all(window.sample_every == 1 for window in profile.windows)


def test_a_tiny_ring_buffer_counts_refused_events(ebpf, tmp_path):
    profile = _record_fork_flood(tmp_path, "tiny-ring", "--ringbuf-pages", "1", mode="burst")
    offered, delivered, lost = _accounting(profile)
    assert lost["ringbuf_reserve_failed"] > 0
    assert delivered + sum(lost.values()) == offered


def test_process_counts_stay_exact_whatever_the_ring_buffer_drops(ebpf, tmp_path):
    profile = _record_fork_flood(tmp_path, "exact", "--rate-limit", "5")
    forks = sum(w.counts.get(("process", "fork"), 0) for w in profile.windows)
    assert forks == FORKS
