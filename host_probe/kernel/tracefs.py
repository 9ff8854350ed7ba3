"""Where tracefs is, and mounting it when it is not (as Tetragon and Cilium do):
bcc resolves classic tracepoints (sched_process_fork/exec/exit) through it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from host_probe.errors import ProbeUnavailable, TracefsUnreadable

CANDIDATES = (Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing"))


def events_dir() -> Path | None:
    for root in CANDIDATES:
        try:
            if (root / "events").is_dir():
                return root / "events"
        except PermissionError:
            raise TracefsUnreadable(f"{root} is not readable by this user (run as root)") from None
    return None


def ensure_mounted() -> Path:
    try:
        found = events_dir()
    except TracefsUnreadable as exc:
        raise ProbeUnavailable(f"cannot read tracepoints: {exc}, or with CAP_BPF and CAP_PERFMON") from None
    if found:
        return found
    if os.geteuid() == 0:
        subprocess.run(["mount", "-t", "tracefs", "nodev", str(CANDIDATES[0])], capture_output=True, timeout=10)
        found = events_dir()
        if found:
            return found
    raise ProbeUnavailable("tracefs is not mounted; run `mount -t tracefs nodev /sys/kernel/tracing` as root")


def has_field(name: str, field: str) -> bool:
    root = events_dir()
    try:
        text = (root / name / "format").read_text() if root else ""
    except OSError:
        return False
    return f" {field};" in text
