"""Suppressions of one service: create (with an expiry, never endless), list, revoke, and
the ones in force for a check. Which anomaly a suppression matches is decided in one
place, gate_server/analysis/suppressions.py; how broad a pattern and how long an expiry
may be is the operator's (SuppressionLimits, from the settings)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from sqlalchemy.orm import Session

from gate_contract.profile import as_utc
from gate_server.analysis.config import GateConfig
from gate_server.analysis.policy import apply_policy
from gate_server.analysis.rules import Rules
from gate_server.analysis.suppressions import ActiveSuppression, check_pattern, limits_reached
from gate_server.services import audit, policy
from gate_server.services.catalog import service_id
from gate_server.services.errors import Conflict, DomainError, NotFound
from gate_contract.durations import parse_duration
from gate_server.storage import suppressions as stored
from gate_contract.models import Suppression

# A suppression is a decision for now, not a permanent allow list (that is the repo's config).
DEFAULT_EXPIRY = timedelta(days=1)
MAX_EXPIRY = timedelta(days=30)


@dataclass(frozen=True)
class SuppressionLimits:
    """What the operator allows a suppression (GATE_SUPPRESSION_GLOBS, GATE_SUPPRESSION_DEFAULT_EXPIRY,
    GATE_SUPPRESSION_MAX_EXPIRY)."""

    globs_allowed: bool = False
    default_expiry: timedelta = DEFAULT_EXPIRY
    max_expiry: timedelta = MAX_EXPIRY

    @classmethod
    def from_settings(cls, settings) -> "SuppressionLimits":
        return cls(globs_allowed=settings.suppression_globs, default_expiry=settings.suppression_default_expiry,
                   max_expiry=settings.suppression_max_expiry)


def _days(span: timedelta) -> str:
    return f"{span.total_seconds() / 86400:g} days"


def parse_expiry(text: Any, now: datetime, limits: SuppressionLimits = SuppressionLimits()) -> datetime:
    """`"7d"` (from now) or an ISO 8601 time with a zone; must lie in the future, within the
    operator's maximum. None or "": the operator's (short) default."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return (now + min(limits.default_expiry, limits.max_expiry)).astimezone(timezone.utc)
    if not isinstance(text, str):
        raise DomainError("'expires' must be a duration like 7d or an ISO 8601 time such as "
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
    if expires - now > limits.max_expiry:
        raise DomainError(f"'expires' {text!r} is more than {_days(limits.max_expiry)} away, this server's maximum "
                          "(GATE_SUPPRESSION_MAX_EXPIRY): put a lasting exception in the repo's config (allow lists) "
                          "instead", field="expires")
    return expires.astimezone(timezone.utc)


def create(session: Session, *, service: str, kind: str, pattern: str, reason: str, expires: Any, actor: str,
           check_id: Optional[int] = None, now: Optional[datetime] = None,
           limits: SuppressionLimits = SuppressionLimits(), pattern_field: str = "pattern",
           known_limit: Optional[str] = None) -> dict[str, Any]:
    """Store and audit a suppression; returns its document. Never commits. `known_limit`:
    the limit the acknowledged anomaly counted against, when made from one."""
    now = now or datetime.now(timezone.utc)
    try:
        pattern = check_pattern(kind, pattern, globs_allowed=limits.globs_allowed)
    except ValueError as exc:
        raise DomainError(f"invalid suppression pattern: {exc}", field=pattern_field) from None
    _refuse_what_a_floor_forbids(session, service, kind, pattern, known_limit, pattern_field)
    if not reason.strip():
        raise DomainError("a suppression needs a reason: say why this behaviour is expected", field="reason")
    expires_at = parse_expiry(expires, now, limits)
    row = stored.add(session, Suppression(
        service_id=service_id(session, service), kind=kind, pattern=pattern, reason=reason.strip(),
        created_by=actor, created_at=now, expires_at=expires_at, check_id=check_id))
    audit.record(session, actor=actor, action="suppression.create", service=service, reason=row.reason,
                 check_id=check_id, at=now,
                 detail={"suppression_id": row.id, "kind": kind, "pattern": pattern, "expires": audit.iso(expires_at)})
    return document(row, service, now)


def _refuse_what_a_floor_forbids(session: Session, service: str, kind: str, pattern: str,
                                 known_limit: Optional[str], pattern_field: str) -> None:
    """400 for a suppression of what an operator's floor forbids: the judge would never apply
    it (analysis/suppressions.py, mark_suppressed), so storing it would only look like an
    exception granted. Judged as the floors weigh keys over the defaults; a repo's config may
    make more keys sensitive, and the judge still keeps those counting."""
    floors = {floor.field.partition(".")[2]: floor for floor in policy.floors_for(session, service)
              if floor.field.startswith("limits.")}
    if not floors:
        return
    reached = limits_reached(kind, pattern, Rules(apply_policy(GateConfig(), list(floors.values())).config))
    forbidden = sorted((reached | ({known_limit} if known_limit else set())) & floors.keys())
    if forbidden:
        named = ", ".join(f"limits.{limit} = {floors[limit].value} ({floors[limit].owner})" for limit in forbidden)
        raise DomainError(f"{kind} {pattern!r} is counted against the operator's floor {named}, which no "
                          "suppression lowers: the judge would ignore this suppression, so it is not made "
                          "(ask the operator to change the floor, or change the canary)", field=pattern_field)


def document(row: Suppression, service: str, now: Optional[datetime] = None) -> dict[str, Any]:
    now = now or datetime.now(timezone.utc)
    if row.revoked_at is not None:
        state = "revoked"
    elif as_utc(row.expires_at) <= now:
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
    listed = [document(row, service, now) for row in stored.of_service_newest_first(session, sid)]
    return listed if include_ended else [item for item in listed if item["state"] == "active"]


def service_of(session: Session, suppression_id: int) -> str:
    name = stored.service_of(session, suppression_id)
    if name is None:
        raise NotFound(f"suppression {suppression_id} does not exist")
    return name


def revoke(session: Session, suppression_id: int, *, actor: str, reason: str = "") -> dict[str, Any]:
    """End a suppression now (audited); 409 if it was already revoked. Never commits."""
    service = service_of(session, suppression_id)
    row = stored.locked(session, suppression_id)
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
    return [ActiveSuppression(id=row.id, kind=row.kind, pattern=row.pattern, by=row.created_by, reason=row.reason,
                              expires=audit.iso(row.expires_at)) for row in stored.in_force(session, sid, now)]


def _uses(document: dict[str, Any]) -> set[tuple[int, str, str]]:
    return {(a["suppressed"]["id"], a["kind"], a["key"]) for a in document.get("anomalies", []) if a.get("suppressed")}


def audit_uses(session: Session, service: str, check_id: int, earlier: dict[str, Any],
               judged: dict[str, Any]) -> None:
    """An audit entry for each anomaly a suppression kept from counting in a check: once per
    check, suppression and key (a poll that judges the same again adds none). Never commits."""
    for suppression_id, kind, key in sorted(_uses(judged) - _uses(earlier)):
        audit.record(session, actor=audit.GATE_ACTOR, action="suppression.use", service=service, check_id=check_id,
                     detail={"suppression_id": suppression_id, "kind": kind, "key": key})
