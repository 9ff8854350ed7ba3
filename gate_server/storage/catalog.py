"""The queries of what has been recorded: services, their recordings and their windows'
figures (models.Service, Recording, Window). Read only."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gate_contract.models import Recording, Service, Window


def service_id(session: Session, name: str) -> Optional[int]:
    return session.execute(select(Service.id).where(Service.name == name)).scalar_one_or_none()


def services_overview(session: Session, visible: Optional[Iterable[str]]) -> list[tuple[str, int, Optional[datetime]]]:
    """(name, versions, last window start) per service, by name; optionally only the named ones."""
    query = (
        select(Service.name, func.count(func.distinct(Recording.version)), func.max(Window.started_at))
        .join(Recording, Recording.service_id == Service.id, isouter=True)
        .join(Window, Window.recording_id == Recording.id, isouter=True)
        .group_by(Service.name)
        .order_by(Service.name)
    )
    if visible is not None:
        query = query.where(Service.name.in_(list(visible)))
    return [tuple(row) for row in session.execute(query)]


def window_figures(session: Session, sid: int, group_by) -> list[tuple]:
    """(group, windows, syscalls, events, first start, last end, first and last receipt) of
    one service's windows, grouped by a column (Recording.version, Window.recording_id)."""
    return [tuple(row) for row in session.execute(
        select(group_by, func.count(Window.id), func.coalesce(func.sum(Window.syscalls_total), 0),
               func.coalesce(func.sum(Window.events_total), 0), func.min(Window.started_at),
               func.max(Window.ended_at), func.min(Window.received_at), func.max(Window.received_at))
        .join(Recording, Window.recording_id == Recording.id)
        .where(Recording.service_id == sid)
        .group_by(group_by)
    )]


def window_drops(session: Session, sid: int, group_by) -> list[tuple[Any, Optional[dict]]]:
    """(group, drops document) per window of one service."""
    return [tuple(row) for row in session.execute(
        select(group_by, Window.drops).join(Recording, Window.recording_id == Recording.id)
        .where(Recording.service_id == sid)
    )]


def recordings_per_version(session: Session, sid: int) -> list[tuple[str, int, datetime]]:
    """(version, recordings, first recording start) of one service."""
    return [tuple(row) for row in session.execute(
        select(Recording.version, func.count(Recording.id), func.min(Recording.started_at))
        .where(Recording.service_id == sid)
        .group_by(Recording.version)
    )]


def version_roles(session: Session, sid: int) -> list[tuple[str, str]]:
    """Distinct (version, role) pairs one service was recorded under."""
    return [tuple(row) for row in session.execute(
        select(Recording.version, Recording.role).where(Recording.service_id == sid).distinct()
    )]


def recordings_newest_first(session: Session, sid: int) -> list[Recording]:
    return list(session.execute(
        select(Recording).where(Recording.service_id == sid).order_by(Recording.started_at.desc())
    ).scalars())


def recording_count(session: Session, sid: int, version: str) -> int:
    return session.execute(
        select(func.count(Recording.id)).where(Recording.service_id == sid, Recording.version == version)
    ).scalar_one()


def last_recording_start(session: Session, sid: int, version: str) -> Optional[datetime]:
    return session.execute(
        select(func.max(Recording.started_at)).where(Recording.service_id == sid, Recording.version == version)
    ).scalar_one()


def recorded_as_baseline(session: Session, sid: int, version: str) -> bool:
    """Whether baseline hosts recorded this version of the service."""
    return session.execute(
        select(Recording.id).where(Recording.service_id == sid, Recording.version == version,
                                   Recording.role == "baseline").limit(1)).first() is not None


def recording_identity(session: Session, recording_uuid: str) -> Optional[tuple[str, str, str]]:
    """(service, version, role) of a stored recording, or None."""
    row = session.execute(
        select(Service.name, Recording.version, Recording.role)
        .join(Recording.service).where(Recording.uuid == recording_uuid)
    ).one_or_none()
    return tuple(row) if row else None


def recording_identities(session: Session, uuids: Iterable[str]) -> dict[str, tuple[str, str, str]]:
    """uuid -> (service, version, role) of the stored recordings among `uuids`."""
    return {row[0]: tuple(row[1:]) for row in session.execute(
        select(Recording.uuid, Service.name, Recording.version, Recording.role).join(Recording.service)
        .where(Recording.uuid.in_(sorted(set(uuids)))))}
