"""The queries of API tokens (models.ApiToken): stored as hashes, found by hash, id or
listed prefix. No commit here: the caller's session decides."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gate_contract.models import ApiToken


def add(session: Session, row: ApiToken) -> ApiToken:
    """Add a token and give it its id."""
    session.add(row)
    session.flush()
    return row


def active_by_hash(session: Session, token_hash: str) -> Optional[ApiToken]:
    return session.execute(
        select(ApiToken).where(ApiToken.token_hash == token_hash, ApiToken.revoked_at.is_(None))
    ).scalar_one_or_none()


def active_by_id(session: Session, token_id: int) -> Optional[ApiToken]:
    return session.execute(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
    ).scalar_one_or_none()


def active_by_prefix(session: Session, prefix: str) -> list[ApiToken]:
    """Active tokens whose listed prefix starts with `prefix` (taken literally, not as a LIKE pattern)."""
    return list(session.execute(
        select(ApiToken).where(ApiToken.prefix.startswith(prefix, autoescape=True), ApiToken.revoked_at.is_(None))
    ).scalars())


def mark_used(session: Session, token_id: int, at: datetime) -> None:
    session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=at))


def all_tokens(session: Session) -> list[ApiToken]:
    """Every token, revoked ones too, oldest first."""
    return list(session.execute(select(ApiToken).order_by(ApiToken.created_at, ApiToken.id)).scalars())


def descriptions(session: Session, token_ids: list[int]) -> dict[int, str]:
    """The tokens' descriptions now, by id (those that have one)."""
    return {token_id: description for token_id, description in session.execute(
        select(ApiToken.id, ApiToken.description).where(ApiToken.id.in_(token_ids))) if description}
