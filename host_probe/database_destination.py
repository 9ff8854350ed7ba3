"""Records written to the database through gate_server's WindowWriter, which
stores a replayed recording or window once (upserts by uuid and index)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError

from gate_server.storage.engine import make_engine
from gate_server.storage.errors import DatabaseError
from gate_server.storage.records import RecordingInfo, WindowRecord
from gate_server.storage.writer import WindowWriter
from host_probe.errors import Unavailable


class DatabaseDestination:
    def __init__(self, database_url: str):
        self.engine = make_engine(database_url)
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
        except (SQLAlchemyError, DatabaseError) as exc:
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[:1]
            raise Unavailable(f"database unreachable ({' '.join(reason)})") from None

    def close(self) -> None:
        self.engine.dispose()
