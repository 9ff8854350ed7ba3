"""Postgres: the `windows` table partitioned by month of `started_at` (native declarative
partitioning, migration 0014), so retention drops a month at once instead of deleting
rows one by one. SQLite keeps a plain table; every function here does nothing there.

Partitions are named windows_pYYYYMM and created ahead (the migration, and each
`gate-server prune`, make this month and the next `MONTHS_AHEAD`). A window of a month
without a partition lands in `windows_default`; creating that month's partition
later moves such rows into it first (Postgres refuses to attach a range the default holds).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Iterable

from sqlalchemy import text
from sqlalchemy.engine import Connection

MONTHS_AHEAD = 3
DEFAULT_PARTITION = "windows_default"
_NAME = re.compile(r"^windows_p(\d{4})(\d{2})$")


def is_partition(table_name: str) -> bool:
    """A partition of `windows` (not a table the models describe)."""
    return table_name == DEFAULT_PARTITION or bool(_NAME.match(table_name))


def _month(moment: datetime) -> tuple[int, int]:
    return moment.year, moment.month


def _next(month: tuple[int, int]) -> tuple[int, int]:
    year, number = month
    return (year + 1, 1) if number == 12 else (year, number + 1)


def _bound(month: tuple[int, int]) -> str:
    return f"{month[0]:04d}-{month[1]:02d}-01 00:00:00+00"


def partition_name(month: tuple[int, int]) -> str:
    return f"windows_p{month[0]:04d}{month[1]:02d}"


def is_partitioned(connection: Connection) -> bool:
    if connection.dialect.name != "postgresql":
        return False
    return connection.execute(text(
        "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
        "WHERE c.relname = 'windows' AND c.relnamespace = current_schema()::regnamespace")).first() is not None


def existing_partitions(connection: Connection) -> dict[tuple[int, int], str]:
    rows = connection.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'windows' "
        "AND p.relnamespace = current_schema()::regnamespace")).scalars()
    found = {}
    for name in rows:
        match = _NAME.match(name)
        if match:
            found[(int(match.group(1)), int(match.group(2)))] = name
    return found


def months_between(first: datetime, last: datetime) -> Iterable[tuple[int, int]]:
    month, end = _month(first), _month(last)
    while month <= end:
        yield month
        month = _next(month)


def ensure_partitions(connection: Connection, now: datetime | None = None, since: datetime | None = None,
                      ahead: int = MONTHS_AHEAD) -> list[str]:
    """Create the monthly partitions from `since`'s month (default: now's) to `ahead` months
    after now's, and the default one; the names created."""
    if not is_partitioned(connection):
        return []
    now = now or datetime.now(timezone.utc)
    last = _month(now)
    for _ in range(ahead):
        last = _next(last)
    have = existing_partitions(connection)
    created = []
    connection.execute(text(f"CREATE TABLE IF NOT EXISTS {DEFAULT_PARTITION} PARTITION OF windows DEFAULT"))
    for month in months_between(since or now, datetime(last[0], last[1], 1, tzinfo=timezone.utc)):
        if month in have:
            continue
        name, low, high = partition_name(month), _bound(month), _bound(_next(month))
        # Rows of this month that went to the default partition move into the new one.
        connection.execute(text(f"CREATE TABLE {name} (LIKE windows INCLUDING DEFAULTS)"))
        connection.execute(text(
            f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE started_at >= :low AND started_at < :high "
            f"RETURNING *) INSERT INTO {name} SELECT * FROM moved"), {"low": low, "high": high})
        connection.execute(text(f"ALTER TABLE windows ATTACH PARTITION {name} "
                                f"FOR VALUES FROM ('{low}') TO ('{high}')"))
        created.append(name)
    return created


def drop_partitions_before(connection: Connection, cutoff: datetime, kept_ids_query) -> dict[str, int]:
    """Drop every monthly partition whose month ended before `cutoff`; rows it holds that
    retention keeps (`kept_ids_query`: window ids; start-up and inventory windows, or a
    window ending after the cutoff) move to the default partition first. The windows
    deleted, by partition dropped."""
    if not is_partitioned(connection):
        return {}
    dropped: dict[str, int] = {}
    old = [name for month, name in sorted(existing_partitions(connection).items())
           if datetime(*_next(month), 1, tzinfo=timezone.utc) <= cutoff]
    if not old:
        return {}
    kept = connection.execute(kept_ids_query).scalars().all()
    for name in old:
        connection.execute(text(f"ALTER TABLE windows DETACH PARTITION {name}"))
        # The month is no longer a partition's range: kept rows re-inserted land in the default one.
        held = connection.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
        moved = connection.execute(text(
            f"INSERT INTO windows SELECT * FROM {name} WHERE id = ANY(:kept) OR received_at >= :cutoff"),
            {"kept": list(kept), "cutoff": cutoff}).rowcount
        connection.execute(text(f"DROP TABLE {name}"))
        dropped[name] = held - moved
    return dropped
