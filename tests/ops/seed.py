"""Seed recordings and windows through the real writer, with chosen timestamps."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from gate_contract.records import RecordingInfo, WindowRecord
from gate_contract.writer import WindowWriter

WINDOW = timedelta(seconds=10)


def seed_recording(engine, service: str, version: str, windows: list[dict], *, start: datetime | None = None,
                   role: str = "baseline", step: timedelta = WINDOW, drops: dict | None = None,
                   sample_every: int = 1, programs: list | None = None) -> str:
    """Store one recording whose i-th window has the feature counts `windows[i]`.

    Keys of each dict are (kind, key); windows follow each other `step` apart from `start`.
    `programs`: every window's lineage (records.ProgramActivity as dicts).
    """
    start = start or datetime.now(timezone.utc) - step * len(windows)
    writer = WindowWriter(engine)
    recording_uuid = str(uuid.uuid4())
    writer.save_recording(RecordingInfo(
        uuid=recording_uuid, service=service, version=version, role=role, started_at=start,
        ended_at=start + step * len(windows), host="test-host", sample_every=sample_every,
        drops=dict(drops or {}),
    ))
    for index, counts in enumerate(windows):
        begin = start + step * index
        writer.write_window(WindowRecord(
            recording_uuid=recording_uuid, index=index, started_at=begin, ended_at=begin + WINDOW,
            syscalls_total=sum(n for (kind, _), n in counts.items() if kind == "syscall"),
            events_total=sum(n for (kind, _), n in counts.items() if kind != "syscall"),
            sample_every=sample_every, drops=dict(drops or {}), features=dict(counts),
            programs=list(programs or []),
        ))
    return recording_uuid
