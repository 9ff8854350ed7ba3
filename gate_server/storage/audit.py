"""The queries of the audit log (models.AuditEntry): add an entry, read entries newest
first. No commit here: an entry joins the transaction of the change it records."""

from __future__ import annotations

from datetime import datetime
from typing import Iterable, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from gate_contract.models import AuditEntry


def add(session: Session, entry: AuditEntry) -> None:
    session.add(entry)


def newest(session: Session, *, services: Optional[Iterable[str]], since: Optional[datetime],
           limit: int) -> list[AuditEntry]:
    """Entries newest first, of the given services (None: all), at or after `since`."""
    query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
    if services is not None:
        query = query.where(AuditEntry.service.in_(list(services)))
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    return list(session.execute(query).scalars())

