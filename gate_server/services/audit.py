"""The audit log of people's decisions: decisions, acknowledgements, suppressions made and
revoked, baseline promotions, tokens created and revoked. Written only alongside the
change it records (same transaction), read by the audit API; nothing updates or deletes
an entry."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Iterable, Optional

from sqlalchemy.orm import Session

from gate_server.services.tokens import TokenIdentity
from gate_server.storage import audit as stored_audit
from gate_server.storage import tokens as stored_tokens
from gate_contract.models import AuditEntry
from gate_contract.profile import as_utc

ACTIONS = ("decision", "decision.void", "acknowledge", "suppression.create", "suppression.revoke",
           "suppression.use", "baseline.promote", "token.create", "token.revoke")
# The actor of what the gate does on its own (a suppression applied, a decision voided).
GATE_ACTOR = "syscall-gate"
DEFAULT_LIMIT = 200
MAX_LIMIT = 1000


TOKEN_ACTOR = re.compile(r"token:([0-9]+)")


def token_actor(token_id: int) -> str:
    return f"token:{token_id}"


def actor_of(identity: TokenIdentity) -> str:
    """Who acted through the API, as stored: the token's stable id (`token:<id>`, the ID
    column of `gate-server tokens list`), never its description, which is free text that
    two tokens may share and an operator may change. An OIDC caller has no token row: its
    repository is its stable name."""
    return token_actor(identity.token_id) if identity.token_id else identity.prefix


def person_of(identity: TokenIdentity) -> str:
    """Who acted on the dashboard, as stored: the person its login token was described
    as (the page shows it as "by <person>"), else the token's stable id."""
    return identity.description or token_actor(identity.token_id)


def record_token_change(session: Session, *, action: str, actor: str, token_id: int, prefix: str, scope: str,
                        services: Iterable[str], description: str) -> None:
    """A token made or revoked, once per service it covers (readers of the log see their
    services' entries). The token is named by its stable id (as API actions name it) and its
    prefix, which `tokens list` shows and `tokens revoke` takes; its description is free
    text, kept as detail only."""
    for service in services:
        record(session, actor=actor, action=action, service=service,
               detail={"token": token_actor(token_id), "prefix": prefix, "scope": scope, "description": description})


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
    rows = stored_audit.newest(session, services=services, since=since, limit=max(1, min(limit, MAX_LIMIT)))
    described = described_actors(session, [entry.actor for entry in rows])
    return [
        {"id": entry.id, "at": iso(entry.at), "actor": entry.actor, "actor_description": described.get(entry.actor),
         "action": entry.action, "service": entry.service, "check_id": entry.check_id, "reason": entry.reason,
         "detail": entry.detail}
        for entry in rows
    ]


def described_actors(session: Session, actors: Iterable[str]) -> dict[str, str]:
    """`token:<id>` actors -> their token's description now, for a reader to tell who that
    is (the entry keeps the id: a description is free text and may change)."""
    ids = {int(match.group(1)) for actor in actors if (match := TOKEN_ACTOR.fullmatch(actor or ""))}
    if not ids:
        return {}
    return {token_actor(token_id): description
            for token_id, description in stored_tokens.descriptions(session, sorted(ids)).items()}
