"""The queries of a service's baseline: its promotions (models.BaselinePromotion) and the
verdicts of its latest checks. No commit here: the caller's session decides."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from gate_contract.models import BaselinePromotion, Check


def add_promotion(session: Session, row: BaselinePromotion) -> BaselinePromotion:
    """Add a promotion and give it its id."""
    session.add(row)
    session.flush()
    return row


def latest_promotions(session: Session, sid: int, count: int) -> list[BaselinePromotion]:
    """The service's last `count` promotions, newest first."""
    return list(session.execute(
        select(BaselinePromotion).where(BaselinePromotion.service_id == sid)
        .order_by(BaselinePromotion.promoted_at.desc(), BaselinePromotion.id.desc()).limit(count)).scalars())


def latest_check_verdicts(session: Session, sid: int, count: int) -> list[tuple[str, float]]:
    """(verdict, score) of the service's last `count` checks, newest first."""
    return [tuple(row) for row in session.execute(
        select(Check.verdict, Check.score).where(Check.service_id == sid)
        .order_by(Check.created_at.desc(), Check.id.desc()).limit(count)).all()]
