"""`host-probe status`: the agent's status file, read back for a person (or as
JSON for a script). Exit 1 when no agent is running or its file is stale."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TextIO


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def show_status(path: Path, as_json: bool, out: TextIO) -> int:
    try:
        status = json.loads(path.read_text())
    except FileNotFoundError:
        print(f"no agent status at {path}: is `host-probe agent` running (and is this its status_file)?", file=out)
        return 1
    except (OSError, ValueError) as exc:
        print(f"cannot read the agent status {path}: {exc}", file=out)
        return 1
    running = _alive(int(status.get("pid", 0)))
    if as_json:
        print(json.dumps(dict(status, running=running), indent=2), file=out)
        return 0 if running else 1
    state = "running" if running else "NOT RUNNING (the file is from an agent that has exited)"
    print(f"agent pid {status['pid']} {state}, since {status['started_at']}; config {status['config']}", file=out)
    print(f"windows of {status['window_s']:g}s; {len(status['workloads'])} of {status['max_workloads']} "
          f"workload slots used; spool depth {status['spool_depth']}; last drain {status['last_drain_ms']} ms "
          f"({status.get('last_drain_cpu_ms', '?')} ms of CPU)",
          file=out)
    print(f"spool: {status.get('spool_corrupt_lines', 0)} corrupt lines skipped (spool_corrupt_lines), "
          f"{status.get('rejected_records', 0)} records set aside in rejected/", file=out)
    if status.get("pod_cgroups"):
        print(f"pods: {status['pod_cgroups']} cgroup directories registered in kernel; "
              f"{status.get('unclaimed_containers', 0)} containers made and not named yet; "
              f"{status.get('spare_slots', 0)} spare slots; "
              f"{status.get('containers_made_without_a_spare_slot', 0)} made without one (polled)", file=out)
    rows = [("SLOT", "SERVICE", "VERSION", "ROLE", "WINDOWS", "LOST", "SPOOLED", "SCOPE")]
    for w in status["workloads"]:
        rows.append((str(w["slot"]), w["service"], w["version"], w["role"], str(w["windows"]),
                     str(sum(w["lost"].values())), str(w["spooled"]), w["scope"]))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1], file=out)
    for key in status["refused"]:
        print(f"refused: {key}", file=out)
    for source, state in status["sources"].items():
        print(f"source {source}: {state}", file=out)
    return 0 if running else 1
