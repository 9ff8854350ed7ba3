"""Per-recording figures for a service's page: windows, syscalls, events, losses, sampling."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gate_server.services.catalog import EMPTY_TOTALS, loss_ratio, service_id, window_totals
from gate_server.storage.models import Recording, Window


def recordings_by_version(session: Session, service: str) -> dict[str, list[dict[str, Any]]]:
    sid = service_id(session, service)
    totals = window_totals(session, sid, Window.recording_id)
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for recording in session.execute(
        select(Recording).where(Recording.service_id == sid).order_by(Recording.started_at.desc())
    ).scalars():
        row = totals.get(recording.id, EMPTY_TOTALS)
        grouped[recording.version].append({
            "uuid": recording.uuid, "role": recording.role, "host": recording.host, "scope": recording.scope,
            "kernel": recording.kernel, "started_at": recording.started_at, "ended_at": recording.ended_at,
            "windows": row["windows"], "syscalls": row["syscalls"], "events": row["events"], "lost": row["lost"],
            "loss_ratio": loss_ratio(row["events"], row["lost"]),
            "sample_every": recording.sample_every, "rate_limit": recording.rate_limit,
        })
    return dict(grouped)
