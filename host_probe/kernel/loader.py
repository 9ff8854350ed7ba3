"""Compile and attach bpf/probe.bpf.c with bcc, with its filters decided before load.

Everything that shapes the hot path (scope, sampling, rate, sizes, syscall numbers)
becomes a -D constant, as bcc's tools substitute theirs into the program text.
"""

from __future__ import annotations

import ctypes
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from host_probe.kernel import tracefs
from host_probe.errors import ProbeUnavailable

# host_probe/bpf: a symlink to the top-level bpf/ in the tree, a copy in the wheel
BPF_DIR = Path(__file__).resolve().parents[1] / "bpf"
PROBE_SOURCE = BPF_DIR / "probe.bpf.c"
# slot numbers are one byte wide in the events and the status; 0 means "not watched"
MAX_WORKLOADS_LIMIT = 255
# sensitive files the fentry file hook knows by inode (host_probe/keys/sensitive_inodes.py)
SENSITIVE_INODES = 1024


def detail_syscalls(source: Path = PROBE_SOURCE) -> tuple[str, ...]:
    """The syscalls the probe reads details from: named once, by the program's own
    `#if NR_<name> >= 0` guards; their numbers come from bcc's table."""
    return tuple(dict.fromkeys(re.findall(r"^#if NR_(\w+) >= 0$", source.read_text(), re.MULTILINE)))


# Cgroups the agent expects before they exist (bpf: cgroup_mkdir): how many at once, and the
# longest path below the cgroup v2 root one may have (a container's under a kind node's pod
# is about 230 characters).
MAX_EXPECTED_CGROUPS = 256
EXPECTED_CGROUP_PATH = 256
# Parents whose children the kernel registers as made (a kubelet's QoS levels and its pods, a
# node's 110 by default), and the slots set aside for the containers made under a pod.
MAX_CGROUP_PARENTS = 1024
MAX_SPARE_SLOTS = 16


@dataclass(frozen=True)
class ProbeOptions:
    max_workloads: int = 1
    sample_every: int = 1
    rate_limit: int = 0          # ring-buffer events per second, whole host; 0 = unlimited
    ringbuf_pages: int = 64
    detail_max_keys: int = 16384  # capacity of each detail map, all workloads together
    detail_budget: int = 0        # keys one workload may hold per window; 0 = the whole capacity
    max_cgroups: int = 4096       # watched cgroup directories (a workload's and its descendants)
    file_hook: str = "sys_enter"  # where file opens are keyed: "sys_enter" or "fentry" (host_probe/kernel/file_hook.py)
    # sys_enter only: read an open's path again at its sys_exit when it was not readable at entry
    # (a second hook on every syscall of the host; docs/benchmarks.md has its cost)
    retry_unreadable: bool = False



def import_bcc():
    try:
        import bcc  # noqa: F401  (Debian's python3-bpfcc, through system site packages)
        from bcc import BPF
    except ImportError as exc:
        raise ProbeUnavailable(f"cannot import bcc ({exc}); install python3-bpfcc (apt-get install python3-bpfcc)")
    return BPF


# Syscalls numbered from 424 on share one number on every architecture (the
# kernel's common table, Linux 5.1+). bcc's built-in x86_64 table stops at rseq
# (334): without these, openat2 opens were never keyed, and clone3 (glibc's
# pthread_create) and io_uring_setup had no names to judge.
COMMON_NEWER_SYSCALLS = {
    424: b"pidfd_send_signal", 425: b"io_uring_setup", 426: b"io_uring_enter", 427: b"io_uring_register",
    428: b"open_tree", 429: b"move_mount", 430: b"fsopen", 431: b"fsconfig", 432: b"fsmount", 433: b"fspick",
    434: b"pidfd_open", 435: b"clone3", 436: b"close_range", 437: b"openat2", 438: b"pidfd_getfd",
    439: b"faccessat2", 440: b"process_madvise", 441: b"epoll_pwait2", 442: b"mount_setattr",
    443: b"quotactl_fd", 444: b"landlock_create_ruleset", 445: b"landlock_add_rule",
    446: b"landlock_restrict_self", 447: b"memfd_secret", 448: b"process_mrelease", 449: b"futex_waitv",
    450: b"set_mempolicy_home_node", 451: b"cachestat", 452: b"fchmodat2",
}


def _syscall_table() -> dict[int, bytes]:
    """bcc's maintained number -> name table for this architecture, completed with
    COMMON_NEWER_SYSCALLS where it has no entry. bcc builds it in for x86_64 only;
    elsewhere it reads `ausyscall --dump` at import and raises a bare Exception
    when that is missing."""
    import_bcc()
    try:
        from bcc.syscall import syscalls
    except Exception as exc:  # bcc raises bare Exception("ausyscall: command not found")
        raise ProbeUnavailable(f"no syscall table for {os.uname().machine} ({exc}): bcc has one built in for "
                               "x86_64 only; elsewhere install auditd, whose `ausyscall --dump` bcc reads") from None
    if not syscalls:
        raise ProbeUnavailable(f"bcc's syscall table for {os.uname().machine} is empty")
    known = set(syscalls.values())
    return {**{nr: name for nr, name in COMMON_NEWER_SYSCALLS.items() if name not in known}, **syscalls}


def syscall_numbers() -> dict[str, int]:
    """Name -> number from bcc's maintained table for this architecture."""
    return {name.decode(): nr for nr, name in _syscall_table().items()}


def syscall_names() -> dict[int, str]:
    return {nr: name.decode() for nr, name in _syscall_table().items()}


def pid_max() -> int:
    try:
        return int(Path("/proc/sys/kernel/pid_max").read_text())
    except (OSError, ValueError):
        return 1 << 22  # the kernel's PID_MAX_LIMIT on 64-bit


def _is_power_of_two(value: int) -> bool:
    return value > 0 and value & (value - 1) == 0


def cflags(options: ProbeOptions, numbers: Mapping[str, int] | None = None) -> list[str]:
    """The -D constants; `numbers` replaces this host's syscall numbers (another
    architecture's, or {} to compile the detail out: every NR_ becomes -1)."""
    if not _is_power_of_two(options.ringbuf_pages):
        raise ValueError(f"ring buffer pages must be a power of two, got {options.ringbuf_pages}")
    if options.file_hook not in ("sys_enter", "fentry"):
        raise ValueError(f"file hook must be sys_enter or fentry, got {options.file_hook!r}")
    if not 1 <= options.max_workloads <= MAX_WORKLOADS_LIMIT:
        raise ValueError(f"max workloads must be 1 to {MAX_WORKLOADS_LIMIT}, got {options.max_workloads}")
    cpus = os.cpu_count() or 1
    rate_per_cpu = 0 if not options.rate_limit else max(1, options.rate_limit // cpus)
    numbers = syscall_numbers() if numbers is None else numbers
    budget = options.detail_budget or options.detail_max_keys
    flags = [
        f"-I{BPF_DIR}",
        f"-DMAX_WORKLOADS={options.max_workloads}",
        f"-DSAMPLE_EVERY={max(1, options.sample_every)}",
        f"-DRATE_PER_CPU={rate_per_cpu}ULL",
        f"-DRINGBUF_PAGES={options.ringbuf_pages}",
        f"-DDETAIL_MAX_KEYS={options.detail_max_keys}",
        f"-DDETAIL_BUDGET={min(budget, options.detail_max_keys)}ULL",
        f"-DTRACKED_TGIDS={pid_max() + 1}",
        f"-DMAX_CGROUPS={options.max_cgroups}",
        f"-DEXPECTED_CGROUP_PATH={EXPECTED_CGROUP_PATH}",
        f"-DMAX_EXPECTED_CGROUPS={MAX_EXPECTED_CGROUPS}",
        f"-DMAX_CGROUP_PARENTS={MAX_CGROUP_PARENTS}",
        f"-DMAX_SPARE_SLOTS={MAX_SPARE_SLOTS}",
        f"-DHAVE_GROUP_DEAD={1 if tracefs.has_field('sched/sched_process_exit', 'group_dead') else 0}",
        f"-DPATH_HASH_SEED={int.from_bytes(os.urandom(8), 'little')}ULL",
        f"-DFILE_HOOK_FENTRY={1 if options.file_hook == 'fentry' else 0}",
        f"-DSENSITIVE_INODES={SENSITIVE_INODES}",
        f"-DRETRY_UNREADABLE={1 if options.retry_unreadable else 0}",
    ]
    flags += [f"-DNR_{name}={numbers.get(name, -1)}" for name in detail_syscalls()]
    return flags


def _explain_load_failure(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    first = text[-1] if text else type(exc).__name__
    kdir = Path(f"/lib/modules/{os.uname().release}/build")
    if not kdir.exists():
        return f"cannot compile the probe: no kernel headers at {kdir} (run `make setup`, or `host-probe doctor`)"
    if os.geteuid() != 0:
        return f"cannot load the probe ({first}): run as root or with CAP_BPF and CAP_PERFMON"
    return f"cannot load the probe: {first} (run `host-probe doctor`)"


def load(options: ProbeOptions, source: Path = PROBE_SOURCE, numbers: Mapping[str, int] | None = None):
    """Compile, load and attach; raise ProbeUnavailable with one clear line on failure.
    `source` and `numbers` are for the benchmarks' variants of the probe."""
    BPF = import_bcc()
    tracefs.ensure_mounted()
    flags = cflags(options, numbers)  # raises its own ProbeUnavailable (e.g. no syscall table)
    try:
        return BPF(src_file=str(source).encode(), cflags=flags)
    except Exception as exc:  # bcc raises bare Exception for compile and attach errors
        raise ProbeUnavailable(_explain_load_failure(exc)) from None


def load_floor():
    """The benchmark's empty sys_enter program."""
    BPF = import_bcc()
    return BPF(src_file=str(BPF_DIR / "floor.bpf.c").encode())


def struct_from(table, raw: int, length: int):
    """A ring-buffer record as the ctypes struct bcc built for event_layout's leaf."""
    leaf = table.Leaf
    if length < ctypes.sizeof(leaf):
        return None
    return ctypes.cast(raw, ctypes.POINTER(leaf)).contents


def kernel_release() -> str:
    return os.uname().release

