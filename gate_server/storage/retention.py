"""The queries of retention: which windows, recordings, checks and rollups lie wholly before a
cutoff, counted or deleted one batch at a time. The rules they encode are told in
gate_server/services/retention.py; each batch is its caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import Session

from gate_contract.models import Check, Recording, Window, WindowRollup
from gate_contract.rollups import ROLLUP_SLOT


def kept_startup_windows(startup_windows_kept: int):
    """The newest start-up or inventory windows of each service and version, at any age."""
    ranked = (
        select(Window.id.label("id"), func.row_number().over(
            partition_by=(Recording.service_id, Recording.version),
            order_by=(Window.received_at.desc(), Window.id.desc())).label("rank"))
        .join(Recording, Recording.id == Window.recording_id)
        .where(Window.startup.is_(True) | Window.inventory.is_not(None))
        .subquery()
    )
    return select(ranked.c.id).where(ranked.c.rank <= startup_windows_kept)


def _old_windows(cutoff: datetime, startup_windows_kept: int):
    # By receipt (indexed), which the uploader cannot choose. Start-up windows and
    # inventories stay at any age up to the cap: a canary's start-up is compared with them.
    return select(Window.id).where(Window.received_at < cutoff,
                                   Window.id.not_in(kept_startup_windows(startup_windows_kept)))


def _empty_old_recordings(cutoff: datetime):
    has_window = exists().where(Window.recording_id == Recording.id)
    ended = func.coalesce(Recording.ended_at, Recording.started_at)
    return select(Recording.id).where(~has_window, ended < cutoff)


def _old_checks(cutoff: datetime):
    return select(Check.id).where(Check.created_at < cutoff)


def _old_rollups(cutoff: datetime):
    # A slot goes when it ended before the cutoff, as a window does.
    return select(WindowRollup.id).where(WindowRollup.slot_start < cutoff - ROLLUP_SLOT)


def _count(session: Session, query) -> int:
    return int(session.execute(select(func.count()).select_from(query.subquery())).scalar_one())


def count_old_windows(session: Session, cutoff: datetime, startup_windows_kept: int) -> int:
    return _count(session, _old_windows(cutoff, startup_windows_kept))


def count_recordings_left_empty(session: Session, cutoff: datetime, startup_windows_kept: int) -> int:
    """Recordings that ended before the cutoff and would be empty once their old windows are gone."""
    has_new_window = exists().where(
        Window.recording_id == Recording.id, ~Window.id.in_(_old_windows(cutoff, startup_windows_kept))
    )
    ended = func.coalesce(Recording.ended_at, Recording.started_at)
    return _count(session, select(Recording.id).where(~has_new_window, ended < cutoff))


def count_old_checks(session: Session, cutoff: datetime) -> int:
    return _count(session, _old_checks(cutoff))


def count_old_rollups(session: Session, cutoff: datetime) -> int:
    return _count(session, _old_rollups(cutoff))


def _delete_batch(session: Session, model, id_query, batch_size: int) -> Optional[int]:
    """Delete the first `batch_size` rows `id_query` selects; rows deleted, None when it selected none."""
    ids = session.execute(id_query.order_by(model.id).limit(batch_size)).scalars().all()
    if not ids:
        return None
    return session.execute(delete(model).where(model.id.in_(ids))).rowcount


def delete_old_windows(session: Session, cutoff: datetime, startup_windows_kept: int,
                       batch_size: int) -> Optional[int]:
    return _delete_batch(session, Window, _old_windows(cutoff, startup_windows_kept), batch_size)


def delete_empty_old_recordings(session: Session, cutoff: datetime, batch_size: int) -> Optional[int]:
    return _delete_batch(session, Recording, _empty_old_recordings(cutoff), batch_size)


def delete_old_checks(session: Session, cutoff: datetime, batch_size: int) -> Optional[int]:
    return _delete_batch(session, Check, _old_checks(cutoff), batch_size)


def delete_old_rollups(session: Session, cutoff: datetime, batch_size: int) -> Optional[int]:
    return _delete_batch(session, WindowRollup, _old_rollups(cutoff), batch_size)
