"""The queries of stored checks (models.Check): add one, find one by its idempotency key,
store a re-judgement, list them. No commit here: the caller's session decides."""

from __future__ import annotations

from typing import Any, Iterable, Optional

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gate_contract.models import Check, Service


def add_unless_key_taken(session: Session, check: Check) -> Optional[Check]:
    """Add a check (in a savepoint) and return None; or, when another writer stored its
    idempotency key between our look and our insert, return that writer's check (locked)."""
    try:
        with session.begin_nested():
            session.add(check)
    except IntegrityError:
        earlier = by_key_locked(session, check.service_id, check.idempotency_key) if check.idempotency_key else None
        if earlier is None:
            raise
        return earlier
    return None


def by_key_locked(session: Session, sid: int, key: str) -> Optional[Check]:
    """The check a key stored for the service, locked until commit (repeats update it one at a time)."""
    return session.execute(
        select(Check).where(Check.service_id == sid, Check.idempotency_key == key).with_for_update()
    ).scalar_one_or_none()


def release_key(session: Session, check_id: int) -> None:
    session.execute(update(Check).where(Check.id == check_id).values(idempotency_key=None))


def store_verdict_if_unchanged(session: Session, check_id: int, earlier_verdict: str,
                               values: dict[str, Any]) -> bool:
    """Compare-and-set: store `values` if the check still has `earlier_verdict`; True if it did."""
    return session.execute(
        update(Check).where(Check.id == check_id, Check.verdict == earlier_verdict).values(**values)
    ).rowcount == 1


def store_verdict(session: Session, check_id: int, values: dict[str, Any]) -> None:
    session.execute(update(Check).where(Check.id == check_id).values(**values))


def locked(session: Session, check_id: int) -> Optional[Check]:
    """The check, locked until commit: a re-judgement waits for what is decided on it."""
    return session.get(Check, check_id, with_for_update=True)


def by_id(session: Session, check_id: int) -> Optional[Check]:
    return session.get(Check, check_id)


def service_and_document(session: Session, check_id: int) -> Optional[tuple[str, dict[str, Any]]]:
    """(service name, stored verdict document) of one check, or None."""
    row = session.execute(
        select(Service.name, Check.result).join(Service, Check.service_id == Service.id).where(Check.id == check_id)
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def service_of(session: Session, check_id: int) -> Optional[str]:
    return session.execute(
        select(Service.name).join(Check, Check.service_id == Service.id).where(Check.id == check_id)
    ).scalar_one_or_none()


def newest_first(session: Session, *, services: Optional[Iterable[str]], limit: int,
                 before: Optional[int]) -> list[tuple]:
    """(id, service, baseline, canary, stage, verdict, score, created_at, url, api_url) of checks,
    newest first, keyset-paginated by id (`before` = the last id of the previous page)."""
    query = (
        select(Check.id, Service.name, Check.baseline_version, Check.canary_version, Check.stage,
               Check.verdict, Check.score, Check.created_at,
               Check.result["url"].as_string(), Check.result["api_url"].as_string())
        .join(Service, Check.service_id == Service.id)
        .order_by(Check.id.desc())
        .limit(limit)
    )
    if services is not None:
        query = query.where(Service.name.in_(list(services)))
    if before is not None:
        query = query.where(Check.id < before)
    return [tuple(row) for row in session.execute(query)]
