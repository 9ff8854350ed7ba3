"""The server policy: set, unset and read floors (audited), and the floors that hold for
a check. The merge itself is pure (gate_server/analysis/policy.py)."""

from __future__ import annotations

from typing import Any, Optional

from sqlalchemy.orm import Session

from gate_server.analysis.config_errors import ConfigError
from gate_server.analysis.policy import GLOBAL, Floor, check_floor
from gate_server.services.errors import InvalidConfig, NotFound
from gate_server.storage import policies
from gate_contract.models import isoformat_utc


def set_floor(session: Session, *, field: str, value: Any, actor: str, service: str = GLOBAL) -> Optional[Any]:
    """Set one floor and audit it; returns the previous value (None if new). Never commits."""
    try:
        checked = check_floor(field, value)
    except ConfigError as exc:
        raise InvalidConfig(f"invalid policy floor: {exc}", field=field) from None
    old = policies.upsert(session, service, field, checked, actor)
    if old != checked:
        policies.audit(session, actor=actor, action="set", service=service, field=field, old=old, new=checked)
    return old


def unset_floor(session: Session, *, field: str, actor: str, service: str = GLOBAL) -> Any:
    """Remove one floor and audit it; returns the value it had."""
    row = policies.find(session, service, field)
    if row is None:
        where = f"service {service!r}" if service else "the global policy"
        raise NotFound(f"{where} has no floor for {field}")
    old = row.value
    policies.remove(session, service, field)
    policies.audit(session, actor=actor, action="unset", service=service, field=field, old=old, new=None)
    return old


def floors_for(session: Session, service: str) -> list[Floor]:
    """The floors that hold for a check of `service`: the global ones and its own."""
    return [Floor(row.field, row.value, row.service) for row in policies.floors(session, [GLOBAL, service])]


def describe(session: Session, service: Optional[str] = None, audit_limit: int = 200) -> dict[str, Any]:
    """The policy as a document (the CLI's `show` and the admin API)."""
    scopes = None if service is None else [GLOBAL, service]
    return {
        "floors": [{"service": row.service or None, "field": row.field, "value": row.value, "set_by": row.set_by,
                    "set_at": isoformat_utc(row.set_at)} for row in policies.floors(session, scopes)],
        "audit": [{"at": isoformat_utc(row.at), "actor": row.actor, "action": row.action,
                   "service": row.service or None, "field": row.field, "old_value": row.old_value,
                   "new_value": row.new_value} for row in policies.audit_trail(session, service, audit_limit)],
    }
