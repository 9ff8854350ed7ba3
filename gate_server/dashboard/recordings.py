"""Per-recording figures for a service's page: windows, syscalls, events, losses, sampling."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gate_server.services.catalog import service_id
from gate_server.storage.models import Recording, Window


def recordings_by_version(session: Session, service: str) -> dict[str, list[dict[str, Any]]]:
    sid = service_id(session, service)
    totals = {
        rid: (windows, syscalls, events)
        for rid, windows, syscalls, events in session.execute(
            select(Window.recording_id, func.count(Window.id), func.coalesce(func.sum(Window.syscalls_total), 0),
                   func.coalesce(func.sum(Window.events_total), 0))
            .join(Recording, Window.recording_id == Recording.id)
            .where(Recording.service_id == sid)
            .group_by(Window.recording_id)
        )
    }
    # Window drops are a JSON object ({category: n}); summed here to stay portable across dialects.
    lost: dict[int, int] = defaultdict(int)
    for rid, drops in session.execute(
        select(Window.recording_id, Window.drops).join(Recording, Window.recording_id == Recording.id)
        .where(Recording.service_id == sid)
    ):
        lost[rid] += sum(int(n) for n in (drops or {}).values())

    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for recording in session.execute(
        select(Recording).where(Recording.service_id == sid).order_by(Recording.started_at.desc())
    ).scalars():
        windows, syscalls, events = totals.get(recording.id, (0, 0, 0))
        events = int(events)
        grouped[recording.version].append({
            "uuid": recording.uuid, "role": recording.role, "host": recording.host, "scope": recording.scope,
            "kernel": recording.kernel, "started_at": recording.started_at, "ended_at": recording.ended_at,
            "windows": int(windows), "syscalls": int(syscalls), "events": events, "lost": lost[recording.id],
            "loss_ratio": lost[recording.id] / (events + lost[recording.id]) if events + lost[recording.id] else 0.0,
            "sample_every": recording.sample_every, "rate_limit": recording.rate_limit,
        })
    return dict(grouped)
