"""Retention: delete what is older than a cutoff, in batches, and say how much.

Only data wholly before the cutoff goes: a window received before it (one row, its counts
a document in it; by its receipt time, never the uploader's word, so backdating or
forward-dating a window within what ingest accepts does not move it across the cutoff), a
recording left with no windows that also ended before it, and a check made before it. Start-up windows and windows carrying an inventory are kept at any
age (and so their recordings): they are what a canary's start-up is compared with
(analysis/startup.py), and the only record of a long-running baseline's start. They
are capped all the same: the newest `startup_windows_kept` of each service and
version stay (recent ones count), older ones go with the ordinary windows, so a
service re-deployed daily does not keep every start for ever. Features (the shared
(kind, key) dictionary) and services stay: they are small, and tokens and
dashboards refer to services by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from sqlalchemy import delete, exists, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gate_contract.models import Check, Recording, Window

# Rows per delete statement: small enough to keep each transaction short (the probe
# keeps writing while we prune), large enough to finish a month of windows quickly.
BATCH_SIZE = 500
# Start-up and inventory windows kept per service and version, beyond the cutoff: a
# start of 10 s in 3-10 s windows is 1-4 windows, so about the last ten starts.
STARTUP_WINDOWS_KEPT = 20


@dataclass
class PruneReport:
    cutoff: datetime
    windows: int = 0
    recordings: int = 0
    checks: int = 0
    dry_run: bool = False

    def to_dict(self) -> dict:
        return {
            "cutoff": self.cutoff.isoformat(), "dry_run": self.dry_run, "windows": self.windows,
            "recordings": self.recordings, "checks": self.checks,
        }


def _kept_startup_windows(startup_windows_kept: int):
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
                                   Window.id.not_in(_kept_startup_windows(startup_windows_kept)))


def _empty_old_recordings(cutoff: datetime):
    has_window = exists().where(Window.recording_id == Recording.id)
    ended = func.coalesce(Recording.ended_at, Recording.started_at)
    return select(Recording.id).where(~has_window, ended < cutoff)


def _old_checks(cutoff: datetime):
    return select(Check.id).where(Check.created_at < cutoff)


def _count(session: Session, query) -> int:
    return int(session.execute(select(func.count()).select_from(query.subquery())).scalar_one())


def prune(engine: Engine, cutoff: datetime, *, dry_run: bool = False, batch_size: int = BATCH_SIZE,
          startup_windows_kept: int = STARTUP_WINDOWS_KEPT,
          progress: Callable[[PruneReport], None] | None = None) -> PruneReport:
    if startup_windows_kept < 0:
        raise ValueError(f"start-up windows kept must be 0 or more, got {startup_windows_kept}")
    report = PruneReport(cutoff=cutoff, dry_run=dry_run)
    if dry_run:
        with Session(engine) as session:
            windows = _old_windows(cutoff, startup_windows_kept)
            report.windows = _count(session, windows)
            # Recordings that would be empty once their old windows are gone.
            has_new_window = exists().where(
                Window.recording_id == Recording.id, ~Window.id.in_(_old_windows(cutoff, startup_windows_kept))
            )
            ended = func.coalesce(Recording.ended_at, Recording.started_at)
            report.recordings = _count(session, select(Recording.id).where(~has_new_window, ended < cutoff))
            report.checks = _count(session, _old_checks(cutoff))
        return report

    while True:
        with Session(engine) as session, session.begin():
            ids = session.execute(_old_windows(cutoff, startup_windows_kept).order_by(Window.id)
                                  .limit(batch_size)).scalars().all()
            if not ids:
                break
            report.windows += session.execute(delete(Window).where(Window.id.in_(ids))).rowcount
        if progress:
            progress(report)
    report.recordings = _delete_in_batches(engine, Recording, _empty_old_recordings(cutoff), batch_size)
    report.checks = _delete_in_batches(engine, Check, _old_checks(cutoff), batch_size)
    return report


def _delete_in_batches(engine: Engine, model, id_query, batch_size: int) -> int:
    deleted = 0
    while True:
        with Session(engine) as session, session.begin():
            ids = session.execute(id_query.order_by(model.id).limit(batch_size)).scalars().all()
            if not ids:
                return deleted
            deleted += session.execute(delete(model).where(model.id.in_(ids))).rowcount
