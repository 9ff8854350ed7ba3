"""Records written to the database through gate_server's WindowWriter, which
stores a replayed recording or window once (upserts by uuid and index).

Every statement has a deadline (Postgres: statement_timeout and lock_timeout;
SQLite: its busy timeout), so a lock held by another session delays the sender
thread, never forever. Errors are told apart: the database away, busy or timed
out is Unavailable (the record waits in the spool and is retried); a record the
database will never take as it is (a constraint it breaks, a value it cannot
hold, a window whose recording is not stored) is Rejected (set aside, counted)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from gate_contract.engine import make_engine
from gate_contract.errors import DatabaseError
from gate_contract.records import RecordingInfo, WindowRecord
from gate_contract.writer import WindowWriter
from host_probe.errors import Rejected, Unavailable

STATEMENT_TIMEOUT_MS, LOCK_TIMEOUT_MS = 30_000, 10_000
PERMANENT = (IntegrityError, DataError)


def _engine_options(database_url: str) -> dict[str, Any]:
    try:
        backend = make_url(database_url).get_backend_name()
    except Exception:  # make_engine says what is wrong with the URL
        return {}
    if backend == "postgresql":
        return {"connect_args": {"options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS} "
                                            f"-c lock_timeout={LOCK_TIMEOUT_MS}"}}
    return {}


def _first_line(exc: BaseException) -> str:
    lines = str(getattr(exc, "orig", exc)).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


class DatabaseDestination:
    def __init__(self, database_url: str):
        self.engine = make_engine(database_url, **_engine_options(database_url))
        self.writer = WindowWriter(self.engine)
        self.name = "database"

    def check(self) -> None:
        """A database without our schema is an error now; an unreachable one is not
        (records are spooled until it returns)."""
        try:
            tables = set(inspect(self.engine).get_table_names())
        except Exception:  # unreachable: the first store attempt says so and spools
            return
        if "windows" not in tables:
            self.engine.dispose()
            raise DatabaseError("the database has no syscall-gate schema; run `gate-server db upgrade` first")

    def store(self, entry: dict[str, Any]) -> None:
        try:
            if entry["type"] == "recording":
                self.writer.save_recording(RecordingInfo.from_dict(entry["data"]))
            else:
                self.writer.write_window(WindowRecord.from_dict(entry["data"]))
        except PERMANENT as exc:
            raise Rejected(f"the database refused it ({_first_line(exc)})") from None
        except (ValidationError, LookupError) as exc:
            raise Rejected(f"not a record the database can take ({_first_line(exc)})") from None
        except (SQLAlchemyError, DatabaseError) as exc:
            raise Unavailable(f"database unavailable ({_first_line(exc)})") from None

    def close(self) -> None:
        self.engine.dispose()
