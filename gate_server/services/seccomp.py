"""An OCI seccomp profile learned from every window a version was observed in.

A syscall is allowed when it appears in at least `min_fraction` of the version's
windows: a one-off (a syscall seen in a single window of hundreds, such as a
debugging session or a rare error path) stays out, while the steady vocabulary of
the service goes in. Learning across all windows of all recordings, rather than one
run, is what makes the list stable enough to enforce.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from collections import Counter

from sqlalchemy.orm import Session

from gate_server.storage import windows as stored_windows
from gate_contract.models import decode_window_counts

# Allowed whatever was observed. A long-running service is usually recorded in the
# middle of its life, so the calls it makes only when it ends (exit, exit_group) or
# only when a signal handler returns (rt_sigreturn) may never appear in a window;
# denying them turns a clean shutdown or a handled SIGTERM into a crash.
# restart_syscall is issued by the kernel itself to resume an interrupted call.
ALWAYS_ALLOWED = ("exit", "exit_group", "restart_syscall", "rt_sigreturn")

# The architectures a container on x86-64 can make calls in (native, 32-bit, x32);
# the same set Docker's and containerd's default profiles name for amd64.
ARCHITECTURES = ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32")

# Only real syscall names go into the profile: a key the probe could not resolve
# (e.g. "sys_451" or "unknown") would make runc refuse the whole profile.
_SYSCALL_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class SyscallUsage:
    """How many of a version's windows each syscall appeared in."""

    windows: int
    windows_seen: dict[str, int]

    def stable(self, min_fraction: float) -> list[str]:
        if self.windows == 0:
            return []
        return sorted(
            name for name, seen in self.windows_seen.items()
            if _SYSCALL_NAME.match(name) and seen / self.windows >= min_fraction
        )

    def excluded(self, min_fraction: float) -> list[str]:
        stable = set(self.stable(min_fraction))
        return sorted(name for name in self.windows_seen if name not in stable)


def syscall_usage(session: Session, service: str, version: str) -> SyscallUsage:
    """Count, per syscall, the windows of `service` at `version` that made it (all recordings)."""
    syscall_names = stored_windows.syscall_names(session)
    documents = stored_windows.counts_documents(session, service, version)
    windows = 0
    windows_seen: Counter[str] = Counter()
    for document in documents:
        windows += 1
        if document is None:
            continue
        ids, counts = decode_window_counts(document)
        windows_seen.update(syscall_names[fid] for fid, count in zip(ids, counts)
                            if count > 0 and fid in syscall_names)
    return SyscallUsage(windows=windows, windows_seen=dict(windows_seen))


def oci_profile(allowed: list[str]) -> dict:
    """The profile document (runc / containerd / Kubernetes `localhostProfile` format)."""
    names = sorted(set(allowed) | set(ALWAYS_ALLOWED))
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        # EPERM, as Docker's default profile returns: callers see "operation not permitted".
        "defaultErrnoRet": 1,
        "architectures": list(ARCHITECTURES),
        "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}],
    }
