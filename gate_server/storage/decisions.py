"""The queries of people's word on checks: decisions (models.CheckDecision) and
acknowledgements (models.Acknowledgement). No commit here: the caller's session decides."""

from __future__ import annotations

from typing import Optional

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gate_contract.models import Acknowledgement, CheckDecision


def decision_of(session: Session, check_id: int) -> Optional[CheckDecision]:
    return session.execute(select(CheckDecision).where(CheckDecision.check_id == check_id)).scalar_one_or_none()


def add_decision_unless_decided(session: Session, row: CheckDecision) -> bool:
    """Add a decision (in a savepoint); False when the check was decided by someone else meanwhile."""
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return False
    return True


def remove_decision(session: Session, decision_id: int) -> None:
    session.execute(delete(CheckDecision).where(CheckDecision.id == decision_id))


def acknowledgements_of(session: Session, check_id: int) -> list[Acknowledgement]:
    return list(session.execute(
        select(Acknowledgement).where(Acknowledgement.check_id == check_id).order_by(Acknowledgement.id)).scalars())


def add_acknowledgement(session: Session, row: Acknowledgement) -> Acknowledgement:
    """Add an acknowledgement and give it its id."""
    session.add(row)
    session.flush()
    return row
