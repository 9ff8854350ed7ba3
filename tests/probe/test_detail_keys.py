"""How details are keyed in the kernel: file opens by a hash of the path (never
two paths under one name, never one path under two), a full map counted, TCP
listens keyed by their address however the socket was bound, and the socket
ABI constants probe.h writes out."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.probe.conftest import (REPO, free_port_below_ephemeral, migrated, read_profile, record_pid_after_trigger,
                                  record_workload, totals, workload)

OPEN_SYSCALLS = ("openat", "open", "openat2", "creat")


def test_paths_that_share_a_prefix_or_differ_in_one_byte_keep_their_own_counts(ebpf, work_dir, tmp_path):
    # Round-robin: every short path is read into the scratch buffer right after a
    # longer one, whose bytes past the short one's end must not reach its key.
    long_a = f"{work_dir}/{'a' * 200}-x"
    long_b = f"{work_dir}/{'a' * 200}-y"
    plan = {f"{work_dir}/prefix-and-more-bytes.txt": 3, f"{work_dir}/prefix": 5, f"{work_dir}/p": 4,
            long_a: 2, long_b: 6}
    for path in plan:  # a path that does not exist would be <unresolved>
        Path(path).touch()
    profile = record_workload(tmp_path, "prefixes", ["opens", "--dir", str(work_dir),
                                                     *[f"--open={path}={count}" for path, count in plan.items()]])
    counts = totals(profile)
    for path, expected in plan.items():
        assert counts[("file", f"{path}:r")] == expected, path


def test_a_full_detail_map_counts_every_open_it_cannot_key(ebpf, work_dir, tmp_path):
    profile = record_workload(tmp_path, "tiny-map", ["opens", "--dir", str(work_dir), "--distinct", "400"],
                              "--detail-keys", "32")
    opened = sum(w.counts.get(("syscall", name), 0) for w in profile.windows for name in OPEN_SYSCALLS)
    keyed = sum(n for w in profile.windows for (kind, _), n in w.counts.items() if kind == "file")
    full = sum(w.drops.get("map_full", 0) for w in profile.windows)
    # a path not paged in cannot be read without faulting, which eBPF may not do
    unreadable = sum(w.drops.get("unreadable", 0) for w in profile.windows)
    assert full > 0
    # every open syscall is a file key or a counted loss: nothing vanishes
    assert keyed + full + unreadable == opened
    assert all(len([k for k in w.counts if k[0] == "file"]) <= 32 for w in profile.windows)


def test_tcp_listen_is_keyed_by_address_when_bound_before_recording_in_another_process(
        ebpf, work_dir, tmp_path):
    db_url = migrated(f"sqlite:///{tmp_path / 'gate.db'}")
    port = free_port_below_ephemeral()
    trigger = tmp_path / "go"
    target = subprocess.Popen(workload("prebound", "--dir", str(work_dir), "--listen-port", str(port),
                                       "--trigger", str(trigger)))
    record_pid_after_trigger(db_url, tmp_path / "spool", "prebound", target, trigger)
    counts = totals(read_profile(db_url, "prebound"))
    # bound by the parent before the recording, listened on by its child during it
    assert counts[("listen", f"inet:127.0.0.1:{port}")] == 1
    assert not any(kind == "bind" for kind, _ in counts)
    # a unix socket bound before the recording has no path to key its listen by;
    # the syscall itself is still counted
    assert not any(kind == "listen" and key.startswith("unix:") for kind, key in counts)
    assert counts[("syscall", "listen")] == 2
