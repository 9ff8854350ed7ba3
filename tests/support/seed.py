"""Seed recorded windows through the real WindowWriter, for server tests and benchmarks."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone
from typing import Mapping

from gate_contract.records import RecordingInfo, WindowRecord
from gate_contract.writer import WindowWriter

# A small web service's steady behaviour: per-window counts.
WEB_BEHAVIOUR: dict[tuple[str, str], int] = {
    ("syscall", "read"): 4000, ("syscall", "write"): 3500, ("syscall", "openat"): 800, ("syscall", "close"): 820,
    ("syscall", "epoll_wait"): 2500, ("syscall", "futex"): 900, ("syscall", "accept4"): 400,
    ("syscall", "sendto"): 600, ("syscall", "recvfrom"): 600, ("syscall", "newfstatat"): 300,
    ("file", "/etc/hosts:r"): 40, ("file", "/app/static/<n>.css:r"): 300, ("file", "/var/log/app/<n>.log:w"): 20,
    ("connect", "inet:10.0.0.5:5432"): 50, ("socket", "inet/stream"): 50, ("listen", "inet:0.0.0.0:8080"): 1,
    ("process", "thread"): 4, ("process", "exit"): 4,
}
# What a compromised or broken canary adds: a shell and a credential read.
BAD_CANARY_EXTRA: dict[tuple[str, str], int] = {("exec", "/bin/sh"): 3, ("file", "/etc/shadow:r"): 3}

EPOCH = datetime(2026, 11, 1, tzinfo=timezone.utc)


def seed_version(
    writer: WindowWriter, service: str, version: str, behaviour: Mapping[tuple[str, str], int], *,
    windows: int = 12, role: str = "baseline", seed: int = 0, window_seconds: int = 10,
    drops_per_window: int = 0, start: datetime = EPOCH,
) -> str:
    """Record `windows` windows of `behaviour`, each count jittered by up to +-10%. Returns the recording uuid."""
    rng = random.Random(f"{service}/{version}/{seed}")
    recording = RecordingInfo(uuid=str(uuid.uuid4()), service=service, version=version, role=role,
                              started_at=start, host="test-host", kernel="6.18")
    writer.save_recording(recording)
    for index in range(windows):
        counts = {key: max(1, round(n * rng.uniform(0.9, 1.1))) for key, n in behaviour.items()}
        syscalls = sum(n for (kind, _), n in counts.items() if kind == "syscall")
        began = start + timedelta(seconds=index * window_seconds)
        writer.write_window(WindowRecord(
            recording_uuid=recording.uuid, index=index, started_at=began,
            ended_at=began + timedelta(seconds=window_seconds), syscalls_total=syscalls,
            events_total=sum(counts.values()) - syscalls,
            drops={"ringbuf": drops_per_window} if drops_per_window else {}, features=counts,
        ))
    return recording.uuid


def seeded_web_database(postgres, name: str, windows: int) -> str:
    """A migrated database `name` on the cluster `postgres` (tests.support.postgres) with
    `windows` windows of web v1 (baseline) and of web v2 (canary, alike): a check passes."""
    from gate_server.storage import migrate
    from gate_contract.engine import make_engine

    url = postgres.create_database(name)
    migrate.upgrade(url)
    engine = make_engine(url)
    writer = WindowWriter(engine)
    seed_version(writer, "web", "v1", WEB_BEHAVIOUR, windows=windows, seed=1)
    seed_version(writer, "web", "v2", WEB_BEHAVIOUR, windows=windows, role="canary", seed=2)
    engine.dispose()
    return url
