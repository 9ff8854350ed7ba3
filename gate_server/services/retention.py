"""Retention: delete what is older than a cutoff, in batches, and say how much.

Only data wholly before the cutoff goes: a window received before it (one row, its counts
a document in it; by its receipt time, never the uploader's word, so backdating or
forward-dating a window within what ingest accepts does not move it across the cutoff), a
recording left with no windows that also ended before it, a check made before it, and
rollups (drift's 10-minute sums) of slots that ended before it. Start-up windows and windows carrying an inventory are kept at any
age (and so their recordings): they are what a canary's start-up is compared with
(analysis/startup.py), and the only record of a long-running baseline's start. They
are capped all the same: the newest `startup_windows_kept` of each service and
version stay (recent ones count), older ones go with the ordinary windows, so a
service re-deployed daily does not keep every start for ever. Features (the shared
(kind, key) dictionary) and services stay: they are small, and tokens and
dashboards refer to services by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Optional

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gate_contract.rollups import ROLLUP_SLOT
from gate_server.storage import partitions
from gate_server.storage import retention as stored
from gate_server.storage.rollups import compact_rollups

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
    rollups: int = 0
    # Postgres: the monthly partitions of windows dropped whole (their windows are in `windows`).
    partitions_dropped: list[str] = field(default_factory=list)
    dry_run: bool = False

    def to_dict(self) -> dict:
        return {
            "cutoff": self.cutoff.isoformat(), "dry_run": self.dry_run, "windows": self.windows,
            "recordings": self.recordings, "checks": self.checks, "rollups": self.rollups,
            "partitions_dropped": self.partitions_dropped,
        }


def prune(engine: Engine, cutoff: datetime, *, dry_run: bool = False, batch_size: int = BATCH_SIZE,
          startup_windows_kept: int = STARTUP_WINDOWS_KEPT,
          progress: Callable[[PruneReport], None] | None = None) -> PruneReport:
    if startup_windows_kept < 0:
        raise ValueError(f"start-up windows kept must be 0 or more, got {startup_windows_kept}")
    report = PruneReport(cutoff=cutoff, dry_run=dry_run)
    if dry_run:
        with Session(engine) as session:
            report.windows = stored.count_old_windows(session, cutoff, startup_windows_kept)
            report.recordings = stored.count_recordings_left_empty(session, cutoff, startup_windows_kept)
            report.checks = stored.count_old_checks(session, cutoff)
            report.rollups = stored.count_old_rollups(session, cutoff)
        return report

    with engine.begin() as connection:
        # Whole months first (Postgres): a partition dropped, not its rows deleted one by one.
        dropped = partitions.drop_partitions_before(connection, cutoff,
                                                    stored.kept_startup_windows(startup_windows_kept))
        report.partitions_dropped, report.windows = sorted(dropped), sum(dropped.values())
        partitions.ensure_partitions(connection)
    while True:
        with Session(engine) as session, session.begin():
            deleted = stored.delete_old_windows(session, cutoff, startup_windows_kept, batch_size)
        if deleted is None:
            break
        report.windows += deleted
        if progress:
            progress(report)
    report.recordings = _in_batches(engine, lambda session: stored.delete_empty_old_recordings(
        session, cutoff, batch_size))
    report.checks = _in_batches(engine, lambda session: stored.delete_old_checks(session, cutoff, batch_size))
    report.rollups = _in_batches(engine, lambda session: stored.delete_old_rollups(session, cutoff, batch_size))
    with Session(engine) as session, session.begin():
        # One row per closed slot from the many its uploads appended (storage/rollups.py).
        compact_rollups(session, before=datetime.now(timezone.utc) - 2 * ROLLUP_SLOT)
    return report


def _in_batches(engine: Engine, delete_batch: Callable[[Session], Optional[int]]) -> int:
    """Run `delete_batch`, one transaction each, until it finds nothing; rows deleted in all."""
    deleted = 0
    while True:
        with Session(engine) as session, session.begin():
            batch = delete_batch(session)
        if batch is None:
            return deleted
        deleted += batch
