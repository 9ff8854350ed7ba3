"""Python mirrors of bpf/probe.h's enums and sizes: the kernel/userspace contract.
tests/probe/test_kernel_contract.py parses probe.h and keeps every mirror equal."""

from __future__ import annotations

# enum detail_kind (file opens have their own map, file_counts)
DETAIL_KINDS = {2: "exec", 3: "connect", 4: "bind", 5: "listen", 6: "socket"}
# enum open_mode
OPEN_MODES = {1: "r", 2: "w", 3: "rw"}
# enum loss_reason, in slot order
LOSS_REASONS = ("map_full", "ringbuf_reserve_failed", "rate_limited", "sampled_out", "unreadable",
                "pid_beyond_table", "path_truncated")
# enum path_flag (struct path_text.flags)
PATH_TRUNCATED = 1
PATH_RESOLVED = 2
# enum port_origin (a bind or listen detail_key's mode): the workload asked for the port
PORT_ASKED = 1
# SG_AT_FDCWD: a file key's dirfd when the path is relative to the working directory
AT_FDCWD = -100
# enum lru_map and enum lru_change, in slot order (host_probe/kernel/lru_evictions.py)
LRU_MAPS = ("bound_sockets", "clone_flags", "argv0")
LRU_CHANGES = ("added", "removed")
# Losses the drain counts itself, not the kernel's loss_counts
DRAIN_LOSSES = ("lru_evicted", "argv0_evicted")
# enum process_change, in slot order
PROCESS_CHANGES = ("fork", "thread", "exit", "exec")
# enum event_type
EVENT_TYPES = {1: "fork", 2: "exec", 3: "exit"}
SYSCALL_SLOTS = 512
