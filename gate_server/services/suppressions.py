"""Suppressions of one service: create (with an expiry, never endless), list, revoke, and
the ones in force for a check. Which anomaly a suppression matches is decided in one
place, gate_server/analysis/suppressions.py."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from gate_server.analysis.suppressions import ActiveSuppression, check_pattern
from gate_server.services import audit
from gate_server.services.catalog import service_id
from gate_server.services.errors import Conflict, DomainError, NotFound
from gate_contract.durations import parse_duration
from gate_contract.models import Service, Suppression

# A suppression is a decision for now, not a permanent allow list (that is the repo's config).
MAX_EXPIRY = timedelta(days=365)


def parse_expiry(text: Any, now: datetime) -> datetime:
    """`"7d"` (from now) or an ISO 8601 time with a zone; must lie in the future, within MAX_EXPIRY."""
    if not isinstance(text, str) or not text.strip():
        raise DomainError("'expires' is required: a duration like 7d or an ISO 8601 time such as "
                          "2026-12-31T00:00:00Z", field="expires")
    text = text.strip()
    try:
        expires = now + parse_duration(text)
    except ValueError:
        try:
            expires = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise DomainError(f"'expires' {text!r} is neither a duration (7d, 12h, 30m) nor an ISO 8601 time",
                              field="expires") from None
        if expires.tzinfo is None:
            raise DomainError(f"'expires' {text!r} has no time zone: add Z or an offset such as +00:00",
                              field="expires")
    if expires <= now:
        raise DomainError(f"'expires' {text!r} is not in the future: a suppression must expire later than now",
                          field="expires")
    if expires - now > MAX_EXPIRY:
        raise DomainError(f"'expires' {text!r} is more than {MAX_EXPIRY.days} days away: put a lasting "
                          "exception in the repo's config (allow lists) instead", field="expires")
    return expires.astimezone(timezone.utc)


def create(session: Session, *, service: str, kind: str, pattern: str, reason: str, expires: Any, actor: str,
           check_id: Optional[int] = None, now: Optional[datetime] = None) -> dict[str, Any]:
    """Store and audit a suppression; returns its document. Never commits."""
    now = now or datetime.now(timezone.utc)
    try:
        pattern = check_pattern(kind, pattern)
    except ValueError as exc:
        raise DomainError(f"invalid suppression pattern: {exc}", field="pattern") from None
    if not reason.strip():
        raise DomainError("a suppression needs a reason: say why this behaviour is expected", field="reason")
    expires_at = parse_expiry(expires, now)
    row = Suppression(service_id=service_id(session, service), kind=kind, pattern=pattern, reason=reason.strip(),
                      created_by=actor, created_at=now, expires_at=expires_at, check_id=check_id)
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="suppression.create", service=service, reason=row.reason,
                 check_id=check_id, at=now,
                 detail={"suppression_id": row.id, "kind": kind, "pattern": pattern, "expires": audit.iso(expires_at)})
    return document(row, service, now)


def document(row: Suppression, service: str, now: Optional[datetime] = None) -> dict[str, Any]:
    now = now or datetime.now(timezone.utc)
    if row.revoked_at is not None:
        state = "revoked"
    elif audit.as_utc(row.expires_at) <= now:
        state = "expired"
    else:
        state = "active"
    return {"id": row.id, "service": service, "kind": row.kind, "pattern": row.pattern, "reason": row.reason,
            "by": row.created_by, "created_at": audit.iso(row.created_at), "expires": audit.iso(row.expires_at),
            "state": state, "revoked_by": row.revoked_by, "revoked_at": audit.iso(row.revoked_at),
            "check_id": row.check_id}


def list_for(session: Session, service: str, *, include_ended: bool = True) -> list[dict[str, Any]]:
    """The service's suppressions, newest first: active, expired and revoked (each says which)."""
    sid = service_id(session, service)
    now = datetime.now(timezone.utc)
    rows = session.execute(
        select(Suppression).where(Suppression.service_id == sid).order_by(Suppression.id.desc())).scalars()
    listed = [document(row, service, now) for row in rows]
    return listed if include_ended else [item for item in listed if item["state"] == "active"]


def service_of(session: Session, suppression_id: int) -> str:
    name = session.execute(
        select(Service.name).join(Suppression, Suppression.service_id == Service.id)
        .where(Suppression.id == suppression_id)).scalar_one_or_none()
    if name is None:
        raise NotFound(f"suppression {suppression_id} does not exist")
    return name


def revoke(session: Session, suppression_id: int, *, actor: str, reason: str = "") -> dict[str, Any]:
    """End a suppression now (audited); 409 if it was already revoked. Never commits."""
    service = service_of(session, suppression_id)
    row = session.get(Suppression, suppression_id, with_for_update=True)
    if row.revoked_at is not None:
        raise Conflict(f"suppression {suppression_id} was already revoked by {row.revoked_by} "
                       f"at {audit.iso(row.revoked_at)}")
    now = datetime.now(timezone.utc)
    row.revoked_at, row.revoked_by = now, actor
    audit.record(session, actor=actor, action="suppression.revoke", service=service, reason=reason,
                 check_id=row.check_id, at=now, detail={"suppression_id": row.id, "kind": row.kind,
                                                        "pattern": row.pattern})
    return document(row, service, now)


def active_for(session: Session, sid: int, now: Optional[datetime] = None) -> list[ActiveSuppression]:
    """The suppressions in force for a check of service `sid` now: not revoked, not expired."""
    now = now or datetime.now(timezone.utc)
    rows = session.execute(
        select(Suppression).where(Suppression.service_id == sid, Suppression.revoked_at.is_(None),
                                  Suppression.expires_at > now).order_by(Suppression.id)).scalars()
    return [ActiveSuppression(id=row.id, kind=row.kind, pattern=row.pattern, by=row.created_by, reason=row.reason,
                              expires=audit.iso(row.expires_at)) for row in rows]
