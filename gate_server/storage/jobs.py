"""The job queue's queries: enqueue, lease, renew, finish (models.Job).

A job is taken by leasing it. On Postgres the candidate row is locked with
`FOR UPDATE SKIP LOCKED`, so servers polling at once each take a different job
without waiting on each other; SQLite has no row locks (SQLAlchemy leaves the
clause out there), so the lease is also a compare-and-set on the row, which keeps
two workers of the single embedded server from taking one job. A lease that
expires (its server died) makes the job takeable again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Optional

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from gate_contract.models import Job, utcnow

QUEUED, DONE, FAILED = "queued", "done", "failed"


def enqueue(session: Session, kind: str, payload: dict[str, Any]) -> Job:
    """Add a job in the caller's transaction: it exists only if what caused it is committed."""
    job = Job(kind=kind, payload=payload, state=QUEUED, attempts=0, run_after=utcnow(), outcome="")
    session.add(job)
    session.flush()
    return job


def _takeable(now: datetime):
    return (Job.state == QUEUED, Job.run_after <= now,
            or_(Job.lease_expires_at.is_(None), Job.lease_expires_at < now))


def lease_next(session: Session, kinds: tuple[str, ...], worker: str, lease: timedelta) -> Optional[Job]:
    """Lease the oldest takeable job of `kinds` to `worker`; None when there is none."""
    now = utcnow()
    candidate = session.execute(
        select(Job).where(Job.kind.in_(kinds), *_takeable(now)).order_by(Job.id).limit(1)
        .with_for_update(skip_locked=True)
    ).scalar_one_or_none()
    if candidate is None:
        return None
    taken = session.execute(
        update(Job).where(Job.id == candidate.id, *_takeable(now))
        .values(leased_by=worker, lease_expires_at=now + lease, attempts=Job.attempts + 1)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    if not taken:
        return None
    session.refresh(candidate)
    return candidate


def renew(session: Session, job_id: int, worker: str, lease: timedelta) -> bool:
    """Extend `worker`'s lease; False when it has lost the job (its lease ran out and another took it)."""
    return session.execute(
        update(Job).where(Job.id == job_id, Job.leased_by == worker, Job.state == QUEUED)
        .values(lease_expires_at=utcnow() + lease).execution_options(synchronize_session=False)
    ).rowcount == 1


def finish(session: Session, job_id: int, worker: str, state: str, outcome: str) -> bool:
    """Mark the job done or failed, if `worker` still holds it."""
    return session.execute(
        update(Job).where(Job.id == job_id, Job.leased_by == worker, Job.state == QUEUED)
        .values(state=state, outcome=outcome[:2000], finished_at=utcnow(), lease_expires_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount == 1


def jobs_of(session: Session, kind: str) -> list[Job]:
    return list(session.execute(select(Job).where(Job.kind == kind).order_by(Job.id)).scalars())
