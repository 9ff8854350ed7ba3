"""Load a service version's windows from the database as a `Profile` for the judge."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from gate_server.analysis.profile import Profile, WindowCounts
from gate_server.storage.models import Feature, Recording, Service, Window, WindowFeature


def load_profile(
    session: Session,
    service: str,
    version: str,
    *,
    role: Optional[str] = None,
    since: Optional[datetime] = None,
    until: Optional[datetime] = None,
) -> Profile:
    """All windows of `service` at `version` (optionally one role, a time range)."""
    query = (
        select(Window)
        .join(Recording, Window.recording_id == Recording.id)
        .join(Service, Recording.service_id == Service.id)
        .where(Service.name == service, Recording.version == version)
        .order_by(Window.started_at, Window.id)
    )
    if role:
        query = query.where(Recording.role == role)
    if since:
        query = query.where(Window.started_at >= since)
    if until:
        query = query.where(Window.started_at < until)
    windows = session.execute(query).scalars().all()
    if not windows:
        return Profile(service=service, version=version, windows=[])

    counts: dict[int, dict] = defaultdict(dict)
    window_ids = [w.id for w in windows]
    # One query for all counts (chunked: IN lists have limits on both dialects).
    for start in range(0, len(window_ids), 500):
        chunk = window_ids[start : start + 500]
        rows = session.execute(
            select(WindowFeature.window_id, Feature.kind, Feature.key, WindowFeature.count)
            .join(Feature, WindowFeature.feature_id == Feature.id)
            .where(WindowFeature.window_id.in_(chunk))
        )
        for window_id, kind, key, count in rows:
            counts[window_id][(kind, key)] = int(count)

    return Profile(
        service=service,
        version=version,
        windows=[
            WindowCounts(
                counts=counts.get(w.id, {}), syscalls_total=int(w.syscalls_total),
                events_total=int(w.events_total), sample_every=int(w.sample_every),
                drops={k: int(v) for k, v in (w.drops or {}).items()},
                started_at=w.started_at, ended_at=w.ended_at,
            )
            for w in windows
        ],
    )
