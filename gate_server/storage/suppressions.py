"""The queries of suppressions (models.Suppression). No commit here: the caller's session decides."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from gate_contract.models import Service, Suppression


def add(session: Session, row: Suppression) -> Suppression:
    """Add a suppression and give it its id."""
    session.add(row)
    session.flush()
    return row


def of_service_newest_first(session: Session, sid: int) -> list[Suppression]:
    return list(session.execute(
        select(Suppression).where(Suppression.service_id == sid).order_by(Suppression.id.desc())).scalars())


def service_of(session: Session, suppression_id: int) -> Optional[str]:
    return session.execute(
        select(Service.name).join(Suppression, Suppression.service_id == Service.id)
        .where(Suppression.id == suppression_id)).scalar_one_or_none()


def locked(session: Session, suppression_id: int) -> Optional[Suppression]:
    """The suppression, locked until commit: two revocations take turns."""
    return session.get(Suppression, suppression_id, with_for_update=True)


def in_force(session: Session, sid: int, now: datetime) -> list[Suppression]:
    """The service's suppressions neither revoked nor expired at `now`, oldest first."""
    return list(session.execute(
        select(Suppression).where(Suppression.service_id == sid, Suppression.revoked_at.is_(None),
                                  Suppression.expires_at > now).order_by(Suppression.id)).scalars())
