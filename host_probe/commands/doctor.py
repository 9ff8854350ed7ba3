"""`host-probe doctor`: can this host record? Each check says what it found and,
when it fails, how to fix it. Exit non-zero when recording cannot work."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

from host_probe.kernel import tracefs
from host_probe.kernel.capabilities import Capabilities, kernel_headers, probe_capabilities
from host_probe.errors import ProbeUnavailable, TracefsUnreadable

MIN_KERNEL = (5, 8)  # BPF ring buffer (5.8); raw tracepoints and cgroup ids are older
REQUIRED_TRACEPOINTS = ("sched/sched_process_fork", "sched/sched_process_exec", "sched/sched_process_exit",
                        "raw_syscalls/sys_enter", "sock/inet_sock_set_state")
CAP_PERFMON, CAP_BPF, CAP_SYS_ADMIN = 38, 39, 21
# bpf/probe.bpf.c maps syscall argument registers for these machines only
ARGUMENT_REGISTERS_MAPPED = ("x86_64", "aarch64")


@dataclass
class Check:
    name: str
    ok: bool
    found: str
    fix: str = ""
    required: bool = True
    # says what the kernel offers (a hook the probe may choose), never blocks recording
    informational: bool = False


def _kernel_version(release: str) -> tuple[int, int]:
    parts = release.split(".")
    try:
        return int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0)
    except (IndexError, ValueError):
        return (0, 0)


def check_kernel(release: str | None = None) -> Check:
    release = release or platform.release()
    ok = _kernel_version(release) >= MIN_KERNEL
    return Check("kernel", ok, release, "" if ok else
                 f"upgrade to Linux {MIN_KERNEL[0]}.{MIN_KERNEL[1]} or newer (the probe uses the BPF ring buffer)")


def check_btf(path: Path = Path("/sys/kernel/btf/vmlinux")) -> Check:
    ok = path.exists()
    return Check("BTF", ok, str(path) if ok else f"{path} missing",
                 "" if ok else "use a kernel built with CONFIG_DEBUG_INFO_BTF=y", required=False)


def check_tracepoints() -> Check:
    try:
        root = tracefs.events_dir()
    except TracefsUnreadable as exc:
        return Check("tracepoints", False, str(exc), "run as root (or with CAP_BPF and CAP_PERFMON)")
    if root is None:
        fix = "mount tracefs: mount -t tracefs nodev /sys/kernel/tracing (the probe does this itself as root)"
        return Check("tracepoints", os.geteuid() == 0, "tracefs not mounted", fix, required=True)
    missing = [tp for tp in REQUIRED_TRACEPOINTS if not (root / tp / "format").is_file()]
    if missing:
        return Check("tracepoints", False, f"missing {', '.join(missing)} under {root}",
                     "use a kernel with CONFIG_FTRACE_SYSCALLS and the sched and sock tracepoints (4.16+)")
    return Check("tracepoints", True, f"{len(REQUIRED_TRACEPOINTS)} found under {root}")


def check_headers(release: str | None = None) -> Check:
    build, own = kernel_headers(release or platform.release())
    if not build.exists():
        return Check("kernel headers", False, f"{build} missing",
                     "install linux-headers-$(uname -r), or run `make setup` to link Debian's generic headers")
    found = f"{build} -> {build.resolve()}" + ("" if own else " (generic headers linked by scripts/setup.sh)")
    return Check("kernel headers", True, found)


def _effective_caps() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return 0


def check_privileges() -> Check:
    if os.geteuid() == 0:
        return Check("privileges", True, "root")
    caps = _effective_caps()
    has = lambda cap: bool(caps & (1 << cap))  # noqa: E731
    ok = has(CAP_SYS_ADMIN) or (has(CAP_BPF) and has(CAP_PERFMON))
    return Check("privileges", ok, f"uid {os.geteuid()}, CapEff={caps:#x}",
                 "" if ok else "run as root, or grant CAP_BPF and CAP_PERFMON (setcap or systemd AmbientCapabilities)")


def check_architecture(machine: str | None = None) -> Check:
    machine = machine or platform.machine()
    ok = machine in ARGUMENT_REGISTERS_MAPPED
    return Check("architecture", ok, machine, "" if ok else
                 f"the probe reads syscall arguments on {' and '.join(ARGUMENT_REGISTERS_MAPPED)} only: "
                 "map this machine's registers in record_detail() of bpf/probe.bpf.c")


def check_syscall_table() -> Check:
    from host_probe.kernel import loader

    try:
        loader.import_bcc()
    except ProbeUnavailable:
        return Check("syscall table", False, "comes from bcc, which does not import", "apt-get install python3-bpfcc")
    try:
        numbers = loader.syscall_numbers()
    except ProbeUnavailable as exc:
        return Check("syscall table", False, str(exc), "apt-get install auditd")
    missing = [name for name in ("openat", "execve", "connect") if name not in numbers]
    if missing:
        return Check("syscall table", False, f"{len(numbers)} syscalls, without {', '.join(missing)}",
                     "install auditd for a complete `ausyscall --dump` table")
    return Check("syscall table", True, f"{len(numbers)} syscalls named (bcc's table for {platform.machine()})")


def check_bcc() -> Check:
    try:
        import bcc
    except ImportError as exc:
        return Check("bcc", False, f"import failed: {exc}",
                     "apt-get install python3-bpfcc, and use a Python that sees system site packages")
    return Check("bcc", True, f"{getattr(bcc, '__version__', 'unknown version')} at {Path(bcc.__file__).parent}")


# What a recording's file hook can use (--file-hook fentry needs both); sys_enter needs no line: every
# kernel that passes the checks above has it.
HOOK_NAMES = {"fentry": "fentry", "d_path": "bpf_d_path"}


def check_hooks(capabilities: Capabilities | None = None) -> list[Check]:
    """The hooks a recording can use that this kernel allows, each tried with a tiny program
    (host_probe.kernel.capabilities)."""
    capabilities = capabilities or probe_capabilities()
    return [Check(name, capabilities.available(hook), capabilities.reasons.get(hook, ""), required=False,
                  informational=True) for hook, name in HOOK_NAMES.items()]


def run_checks() -> list[Check]:
    return [check_kernel(), check_architecture(), check_btf(), check_tracepoints(), check_headers(),
            check_privileges(), check_bcc(), check_syscall_table(), *check_hooks()]


def report(checks: list[Check], out) -> int:
    for check in checks:
        if check.informational:
            mark = "yes " if check.ok else "no  "
        else:
            mark = "ok  " if check.ok else ("FAIL" if check.required else "warn")
        print(f"{mark} {check.name:15} {check.found}", file=out)
        if not check.ok and check.fix:
            print(f"     fix: {check.fix}", file=out)
    blocking = [c.name for c in checks if c.required and not c.ok]
    if blocking:
        print(f"recording cannot work on this host: fix {', '.join(blocking)}", file=out)
        return 1
    print("this host can record", file=out)
    return 0
