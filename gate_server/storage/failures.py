"""Database errors sorted by what the caller should do about them.

- transient: the database is away, a connection was lost, or a lock or the pool could
  not be had in time. The same request may pass later: answer 503 with Retry-After,
  spool and replay.
- conflict: the write breaks a constraint the database holds (unique, foreign key,
  check, not null). It never passes as sent: say which, do not retry.
- invalid value: a value the column cannot hold (too long, out of range). Likewise.
- defect: anything else (a query of ours the database does not understand): a bug.
"""

from __future__ import annotations

from enum import Enum

from sqlalchemy.exc import (
    DataError, DBAPIError, DisconnectionError, IntegrityError, InterfaceError, OperationalError,
    TimeoutError as PoolTimeout,
)

from gate_contract.errors import DatabaseError


class Failure(Enum):
    TRANSIENT = "transient"
    CONFLICT = "conflict"
    INVALID_VALUE = "invalid value"
    DEFECT = "defect"


def classify(exc: BaseException) -> Failure:
    if isinstance(exc, (DatabaseError, PoolTimeout, DisconnectionError)):
        return Failure.TRANSIENT
    if isinstance(exc, DBAPIError):
        # OperationalError covers lost and refused connections, lock and statement timeouts,
        # deadlocks and serialization failures (Postgres), "database is locked" (SQLite);
        # InterfaceError a connection already closed under the driver.
        if exc.connection_invalidated or isinstance(exc, (OperationalError, InterfaceError)):
            return Failure.TRANSIENT
        if isinstance(exc, IntegrityError):
            return Failure.CONFLICT
        if isinstance(exc, DataError):
            return Failure.INVALID_VALUE
    return Failure.DEFECT


def reason(exc: BaseException) -> str:
    """The database's own first line (no DETAIL: it may quote stored values), or the error's type."""
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    return lines[0] if lines else type(orig).__name__
