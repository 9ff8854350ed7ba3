"""Recorded windows for the Action's tests, written with the real window writer:
a baseline, a healthy canary that behaves the same, and a bad canary that also
spawns a shell and reads /etc/shadow in every window."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone

from gate_contract.engine import make_engine
from gate_contract.records import RecordingInfo, WindowRecord
from gate_contract.writer import WindowWriter

SERVICE = "checkout"
BASELINE = "v1"
HEALTHY_CANARY = "v2-healthy"
BAD_CANARY = "v2-bad"
UNRECORDED_CANARY = "v2-not-deployed-yet"
WINDOWS = 8

# What the service does every window, with a typical count.
USUAL_FEATURES = {
    ("syscall", "read"): 900, ("syscall", "write"): 600, ("syscall", "openat"): 120,
    ("syscall", "close"): 120, ("syscall", "epoll_wait"): 400, ("syscall", "connect"): 20,
    ("syscall", "sendto"): 200, ("syscall", "recvfrom"): 210, ("syscall", "futex"): 300,
    ("file", "/etc/hosts:r"): 20, ("file", "/srv/app/config.toml:r"): 5, ("file", "/var/log/app/<n>.log:w"): 10,
    ("connect", "inet:10.0.0.5:5432"): 20, ("socket", "inet/stream"): 20, ("listen", "inet:0.0.0.0:8080"): 1,
    ("process", "thread"): 4,
}
BAD_EXTRAS = {("exec", "/bin/sh"): 3, ("file", "/etc/shadow:r"): 2, ("syscall", "execve"): 3}


def _windows(recording_uuid: str, features: dict, seed: int) -> list[WindowRecord]:
    rng = random.Random(seed)
    start = datetime.now(timezone.utc) - timedelta(minutes=30)
    records = []
    for index in range(WINDOWS):
        counts = {feature: max(1, int(n * rng.uniform(0.9, 1.1))) for feature, n in features.items()}
        syscalls = sum(n for (kind, _), n in counts.items() if kind == "syscall")
        records.append(WindowRecord(
            recording_uuid=recording_uuid, index=index,
            started_at=start + timedelta(seconds=10 * index), ended_at=start + timedelta(seconds=10 * (index + 1)),
            syscalls_total=syscalls, events_total=sum(counts.values()), features=counts,
        ))
    return records


def record(writer: WindowWriter, version: str, role: str, features: dict, seed: int) -> None:
    recording = RecordingInfo(
        uuid=str(uuid.uuid4()), service=SERVICE, version=version, role=role,
        started_at=datetime.now(timezone.utc) - timedelta(minutes=30), host="test-host", scope="pid:1",
    )
    writer.save_recording(recording)
    for window in _windows(recording.uuid, features, seed):
        writer.write_window(window)


def seed_rollout(database_url: str) -> None:
    """Baseline, healthy canary and bad canary of SERVICE, in a migrated database."""
    engine = make_engine(database_url)
    try:
        writer = WindowWriter(engine)
        record(writer, BASELINE, "baseline", USUAL_FEATURES, seed=1)
        record(writer, HEALTHY_CANARY, "canary", USUAL_FEATURES, seed=2)
        record(writer, BAD_CANARY, "canary", {**USUAL_FEATURES, **BAD_EXTRAS}, seed=3)
    finally:
        engine.dispose()
