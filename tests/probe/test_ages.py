"""Ages (issue 23): each window says when its workload's oldest process started, so a
check knows what the baseline's recording could have seen. A periodic task the canary's
recording reaches and the baseline's did not (PostgreSQL re-opens postmaster.pid once a
minute) is `unverified`, a warn; the
same open at an age the baseline was watched at is news and pauses. Real service, real
probe, the real `gate-server check`."""

from __future__ import annotations

import math
from pathlib import Path

from tests.probe.conftest import free_port_below_ephemeral, gate_check, host_probe, migrated, read_profile
from tests.probe.test_startup import CONFIG, SERVICE_NAME, attached_baseline, service_argv, service_dir  # noqa: F401

TASK_FILE = "run/service.pid:rw"  # outside the service's own directory, where the baseline writes its log
# /tmp, where pytest's directories are, is a known write path by default: not here
CHECK_CONFIG = {**CONFIG, "known_write_paths": []}


def fresh_canary(db_url: str, tmp_path: Path, work: Path, port: int, once_at: float, version: str) -> None:
    """Started under the probe; it opens run/service.pid once, `once_at` s after its start."""
    (tmp_path / "run").mkdir(exist_ok=True)
    seconds = once_at + 3
    result = host_probe("record", "--service", SERVICE_NAME, "--version", version, "--role", "canary",
                        "--window", "1s", "--startup", "2s", "--duration", f"{seconds + 1:.0f}s", "--db", db_url,
                        "--spool", str(tmp_path / "spool"), "--",
                        *service_argv(work, port, "--once-at", f"{once_at:g}", "--task-file", str(tmp_path / "run" / "service.pid"),
                                     "--seconds", f"{seconds:g}"),
                        timeout=180)
    assert result.returncode == 0, result.stderr


def task_anomaly(verdict: dict) -> dict:
    found = [a for a in verdict["anomalies"] if a["kind"] == "file" and a["key"].endswith(TASK_FILE)]
    assert len(found) == 1, [(a["kind"], a["key"], a["change"]) for a in verdict["anomalies"]]
    return found[0]


def windows_with_task(profile) -> list:
    return [w for w in profile.windows if any(key.endswith(TASK_FILE) for _, key in w.counts)]


def test_a_periodic_task_past_the_baseline_s_oldest_age_warns_and_within_it_pauses(ebpf, tmp_path, service_dir):
    db_url = migrated(f"sqlite:///{tmp_path / 'gate.db'}")
    port = free_port_below_ephemeral()
    attached_baseline(db_url, tmp_path, service_dir, port)
    baseline = read_profile(db_url, "v1", SERVICE_NAME)
    starts = {w.workload_started_at for w in baseline.windows}
    assert len(starts) == 1 and None not in starts, starts  # one process, attached: one start, said by every window
    # attached to it when it served: each window began after it started (ages at a window's start >= 0)
    assert all(w.age_s >= (w.ended_at - w.started_at).total_seconds() for w in baseline.windows)
    oldest = max(w.age_s for w in baseline.windows)

    # Past it: the canary's recording reaches an age the baseline's never did.
    once_at = math.ceil(oldest) + 4
    fresh_canary(db_url, tmp_path, service_dir, port, once_at, "v2")
    canary = read_profile(db_url, "v2", SERVICE_NAME)
    [window] = windows_with_task(canary)
    # the probe's ages are the service's own: the open falls inside the window that has it
    started_age = window.age_s - (window.ended_at - window.started_at).total_seconds()
    assert started_age - 0.5 <= once_at <= window.age_s + 0.5, (started_age, once_at, window.age_s)
    verdict = gate_check(db_url, tmp_path, SERVICE_NAME, CHECK_CONFIG)
    task = task_anomaly(verdict)
    assert task["change"] == "unverified" and task["limit"] is None, task
    assert f"past age {oldest:.0f} s" in task["reason"], task["reason"]
    assert verdict["verdict"] == "warn", verdict["reasons"]

    # Within it (past the canary's 2 s start-up): the same open is news, and pauses.
    fresh_canary(db_url, tmp_path, service_dir, port, 3.0, "v3")
    verdict = gate_check(db_url, tmp_path, SERVICE_NAME, CHECK_CONFIG, canary="v3")
    task = task_anomaly(verdict)
    assert task["change"] == "new", task
    assert verdict["verdict"] == "pause", verdict["reasons"]
