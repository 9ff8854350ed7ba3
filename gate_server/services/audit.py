"""The audit log of people's decisions: decisions, acknowledgements, suppressions made and
revoked, baseline promotions, tokens created and revoked. Written only alongside the
change it records (same transaction), read by the audit API; nothing updates or deletes
an entry."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable, Optional

from sqlalchemy.orm import Session

from gate_server.services.tokens import TokenIdentity
from gate_server.storage import audit as stored_audit
from gate_contract.models import AuditEntry

ACTIONS = ("decision", "decision.void", "acknowledge", "suppression.create", "suppression.revoke",
           "suppression.use", "baseline.promote", "token.create", "token.revoke")
# The actor of what the gate does on its own (a suppression applied, a decision voided).
GATE_ACTOR = "syscall-gate"
DEFAULT_LIMIT = 200
MAX_LIMIT = 1000


def actor_of(identity: TokenIdentity) -> str:
    """Who acted, as stored: the token's description (a person), else the token's prefix."""
    return identity.description or f"token {identity.prefix}"


def record_token_change(session: Session, *, action: str, actor: str, prefix: str, scope: str,
                        services: Iterable[str], description: str) -> None:
    """A token made or revoked, once per service it covers (readers of the log see their
    services' entries). The token is named by its prefix, which `tokens list` shows and
    `tokens revoke` takes; its description is free text, kept as detail only."""
    for service in services:
        record(session, actor=actor, action=action, service=service,
               detail={"token": prefix, "scope": scope, "description": description})


def as_utc(moment: datetime) -> datetime:
    # SQLite hands timezone-aware columns back naive (in UTC, as they were written).
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def iso(moment: Optional[datetime]) -> Optional[str]:
    return as_utc(moment).isoformat() if moment is not None else None


def record(session: Session, *, actor: str, action: str, service: str, reason: str = "",
           check_id: Optional[int] = None, detail: Optional[dict[str, Any]] = None,
           at: Optional[datetime] = None) -> None:
    """Add one entry to the caller's transaction (never commits)."""
    assert action in ACTIONS, action
    stored_audit.add(session, AuditEntry(at=at or datetime.now(timezone.utc), actor=actor, action=action, service=service,
                           check_id=check_id, reason=reason, detail=detail or {}))


def entries(session: Session, *, services: Optional[Iterable[str]] = None, since: Optional[datetime] = None,
            limit: int = DEFAULT_LIMIT) -> list[dict[str, Any]]:
    """Entries newest first, of the given services (None: all), at or after `since`."""
    return [
        {"id": entry.id, "at": iso(entry.at), "actor": entry.actor, "action": entry.action,
         "service": entry.service, "check_id": entry.check_id, "reason": entry.reason, "detail": entry.detail}
        for entry in stored_audit.newest(session, services=services, since=since,
                                         limit=max(1, min(limit, MAX_LIMIT)))
    ]
