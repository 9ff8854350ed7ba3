"""Where windows go: the database through gate_server's WindowWriter, or -- while
the database is unreachable -- a local spool file (JSON lines), replayed in order
when it is back. The writer is idempotent by (recording uuid, window index), so a
window replayed twice is stored once."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError

from gate_server.storage.engine import DatabaseError, make_engine
from gate_server.storage.records import RecordingInfo, WindowRecord
from gate_server.storage.writer import WindowWriter


class WindowSink:
    def __init__(self, database_url: str, spool_dir: Path, recording_uuid: str, log=None):
        self.engine = make_engine(database_url)
        self.writer = WindowWriter(self.engine)
        self.spool_path = Path(spool_dir) / f"{recording_uuid}.jsonl"
        self.log = log or (lambda message: print(message, file=sys.stderr, flush=True))
        self.database_down = False

    def check_schema(self) -> None:
        """A database without our schema is an error now; an unreachable one is not
        (windows are spooled until it returns)."""
        try:
            tables = set(inspect(self.engine).get_table_names())
        except Exception:  # unreachable: the sink spools and retries every window
            return
        if "windows" not in tables:
            self.engine.dispose()
            raise DatabaseError("the database has no syscall-gate schema; run `gate-server db upgrade` first")

    def _store(self, entry: dict) -> None:
        if entry["type"] == "recording":
            self.writer.save_recording(RecordingInfo.from_dict(entry["data"]))
        else:
            self.writer.write_window(WindowRecord.from_dict(entry["data"]))

    def _spool(self, entry: dict) -> None:
        self.spool_path.parent.mkdir(parents=True, exist_ok=True)
        with self.spool_path.open("a") as spool:
            spool.write(json.dumps(entry) + "\n")

    def replay(self) -> bool:
        """Store what the spool holds; True when nothing is left in it."""
        if not self.spool_path.exists():
            return True
        entries = [json.loads(line) for line in self.spool_path.read_text().splitlines() if line.strip()]
        for done, entry in enumerate(entries):
            try:
                self._store(entry)
            except (SQLAlchemyError, DatabaseError):
                # keep what is not stored yet, in order
                remaining = entries[done:]
                self.spool_path.write_text("".join(json.dumps(e) + "\n" for e in remaining))
                return False
        self.spool_path.unlink()
        if self.database_down:
            self.log(f"host-probe: database reachable again; replayed {len(entries)} spooled records")
            self.database_down = False
        return True

    def _send(self, entry: dict) -> None:
        if self.replay():
            try:
                self._store(entry)
                return
            except (SQLAlchemyError, DatabaseError) as exc:
                reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0:1]
                if not self.database_down:
                    self.log(f"host-probe: database unreachable ({' '.join(reason)}); "
                             f"spooling windows to {self.spool_path}")
        self.database_down = True
        self._spool(entry)

    def save_recording(self, info: RecordingInfo) -> None:
        self._send({"type": "recording", "data": info.to_dict()})

    def write_window(self, window: WindowRecord) -> None:
        self._send({"type": "window", "data": window.to_dict()})

    def close(self) -> bool:
        """Last replay attempt; False (with a message) if records remain spooled."""
        left = not self.replay()
        if left:
            self.log(f"host-probe: database still unreachable; {self.spool_path} keeps the unsent windows "
                     f"(`host-probe replay` stores them later)")
        self.engine.dispose()
        return not left


def replay_spool_dir(database_url: str, spool_dir: Path) -> tuple[int, int]:
    """Replay every spool file in a directory: (files stored, files left)."""
    stored = left = 0
    for path in sorted(Path(spool_dir).glob("*.jsonl")):
        sink = WindowSink(database_url, spool_dir, path.stem)
        if sink.replay():
            stored += 1
        else:
            left += 1
        sink.engine.dispose()
    return stored, left
