"""The queries of the server policy: its floors and their audit trail (models.PolicyFloor,
models.PolicyAudit). No commit here: the caller's session decides."""

from __future__ import annotations

from typing import Any, Iterable, Optional

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gate_contract.models import PolicyAudit, PolicyFloor


def floors(session: Session, services: Optional[Iterable[str]] = None) -> list[PolicyFloor]:
    """Floors of the given scopes ("" = global), or every floor; by service, then field."""
    query = select(PolicyFloor).order_by(PolicyFloor.service, PolicyFloor.field)
    if services is not None:
        query = query.where(PolicyFloor.service.in_(list(services)))
    return list(session.execute(query).scalars())


def find(session: Session, service: str, field: str) -> Optional[PolicyFloor]:
    return session.execute(
        select(PolicyFloor).where(PolicyFloor.service == service, PolicyFloor.field == field)
    ).scalar_one_or_none()


def upsert(session: Session, service: str, field: str, value: Any, actor: str) -> Optional[Any]:
    """Set a floor; returns the value it had (None if it was not set)."""
    row = find(session, service, field)
    old = row.value if row else None
    if row is None:
        session.add(PolicyFloor(service=service, field=field, value=value, set_by=actor))
    else:
        row.value, row.set_by = value, actor
    return old


def remove(session: Session, service: str, field: str) -> None:
    session.execute(delete(PolicyFloor).where(PolicyFloor.service == service, PolicyFloor.field == field))


def audit(session: Session, *, actor: str, action: str, service: str, field: str, old: Any, new: Any) -> None:
    session.add(PolicyAudit(actor=actor, action=action, service=service, field=field, old_value=old, new_value=new))


def audit_trail(session: Session, service: Optional[str] = None, limit: int = 200) -> list[PolicyAudit]:
    """Newest first."""
    query = select(PolicyAudit).order_by(PolicyAudit.id.desc()).limit(limit)
    if service is not None:
        query = query.where(PolicyAudit.service == service)
    return list(session.execute(query).scalars())
