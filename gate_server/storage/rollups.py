"""A version's rollups (`window_rollups`, gate_contract/rollups.py) as a `Profile` for the
judge: one window per 10-minute slot (start-up windows summed apart), whatever the
steady-window bound kept of the windows themselves. What drift reads."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from gate_contract.models import Service, WindowRollup, decode_window_counts
from gate_contract.profile import Profile, WindowCounts, as_utc
from gate_contract.rollups import ROLLUP_SLOT, RollupSum, rollup_row
from gate_server.storage.profiles import ProfileCache, _feature_names


def _add_row(total: RollupSum, row: WindowRollup) -> None:
    ids, counts = decode_window_counts(row.counts)
    total.add(syscalls_total=row.syscalls_total, events_total=row.events_total, sample_every=row.sample_every,
              drops=row.drops, hooks=row.hooks, counts=zip(ids, counts),
              inventory=decode_window_counts(row.inventory)[0] if row.inventory else ())
    total.windows += row.windows - 1  # add() counted the row as one window


def load_rollup_profile(session: Session, service: str, version: str, *, since: datetime, until: datetime,
                        cache: Optional[ProfileCache] = None) -> Profile:
    """The slots of `service` at `version` that began in [since, until), oldest first."""
    rows = session.execute(
        select(WindowRollup).join(Service, WindowRollup.service_id == Service.id)
        .where(Service.name == service, WindowRollup.version == version,
               WindowRollup.slot_start >= since, WindowRollup.slot_start < until)
        .order_by(WindowRollup.slot_start, WindowRollup.startup, WindowRollup.id)).scalars().all()
    slots: dict[tuple[datetime, bool], RollupSum] = {}
    for row in rows:  # a slot written by several uploads has several rows: their sum
        _add_row(slots.setdefault((as_utc(row.slot_start), row.startup), RollupSum()), row)
    names = _feature_names(session, {fid for total in slots.values() for fid in (*total.counts, *total.inventory)},
                           cache or ProfileCache(max_counts=0))
    windows = [WindowCounts(counts={names[fid]: n for fid, n in total.counts.items()},
                            syscalls_total=total.syscalls_total, events_total=total.events_total,
                            sample_every=total.sample_every, drops=total.drops, started_at=start,
                            ended_at=start + ROLLUP_SLOT, startup=startup,
                            inventory=frozenset(names[fid] for fid in total.inventory), hooks=total.hooks)
               for (start, startup), total in slots.items()]
    return Profile(service=service, version=version, windows=windows)


def compact_rollups(session: Session, before: datetime) -> int:
    """Merge each slot's rows (one per upload that touched it) into one, for slots that began
    before `before` (closed: a late upload may still add a row, merged next time). Rows removed."""
    key = (WindowRollup.service_id, WindowRollup.version, WindowRollup.slot_start, WindowRollup.startup)
    groups = session.execute(select(*key).where(WindowRollup.slot_start < before)
                             .group_by(*key).having(func.count(WindowRollup.id) > 1)).all()
    removed = 0
    for service_id, version, start, startup in groups:
        rows = session.execute(select(WindowRollup).where(
            WindowRollup.service_id == service_id, WindowRollup.version == version,
            WindowRollup.slot_start == start, WindowRollup.startup == startup).with_for_update()).scalars().all()
        total = RollupSum()
        for row in rows:
            _add_row(total, row)
        session.execute(delete(WindowRollup).where(WindowRollup.id.in_([row.id for row in rows])))
        session.execute(insert(WindowRollup).values(rollup_row((service_id, version, start, startup), total)))
        removed += len(rows) - 1
    return removed
