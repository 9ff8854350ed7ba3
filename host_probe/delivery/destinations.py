"""Where the probe's records go: the database (DatabaseDestination, through the
contract's writer) or the gate server over HTTP (ServerDestination: PUT
/api/v1/recordings/..., POST /api/v1/windows for a batch, with an `ingest` token,
for hosts that should not hold database credentials). Both store a replayed record
once, so the spool in front of them may resend freely.

A destination raises Unavailable when a record may go through later (spool it and
retry), Refused when it never will as sent (a token without the right: the record is
kept, the operator told), and Rejected when this record as it is will never be taken
(set aside and counted). `store_windows` stores a batch of windows all or nothing;
Rejected from it names no window, so the sender sends that batch one by one.

Each destination imports its own client only when it is opened: a probe loads
SQLAlchemy or requests, not both (its resident memory is budgeted, docs/benchmarks.md;
tests/test_boundaries.py holds it)."""

from __future__ import annotations

import gzip
import json
from contextlib import contextmanager
from typing import Any, Iterator

from host_probe.errors import Refused, Rejected, Unavailable

__all__ = ["BatchUnsupported", "DatabaseDestination", "Refused", "Rejected", "ServerDestination", "Unavailable",
           "check_token", "open_destination"]


class BatchUnsupported(Exception):
    """The destination has no batch upload (a gate server older than POST /api/v1/windows)."""


def check_token(server_url: str, token: str) -> None:
    """An upload needs a token: refused here, before anything is compiled or sent."""
    if server_url and not token:
        raise Refused("uploading to a gate server needs an ingest token in GATE_INGEST_TOKEN "
                      "(made by: gate-server tokens create --scope ingest --service S)")


def open_destination(database_url: str, server_url: str = "", token: str = ""):
    """The gate server when one is named, else the database."""
    check_token(server_url, token)
    if server_url:
        return ServerDestination(server_url, token)
    return DatabaseDestination(database_url)


# -- the database --------------------------------------------------------------
# Every statement has a deadline (Postgres: statement_timeout and lock_timeout; SQLite:
# its busy timeout), so a lock held by another session delays the sender thread, never
# forever. The database away, busy or timed out is Unavailable; a record it will never
# take as it is (a constraint it breaks, a value it cannot hold, a window whose recording
# is not stored) is Rejected.
STATEMENT_TIMEOUT_MS, LOCK_TIMEOUT_MS = 30_000, 10_000


def _engine_options(database_url: str) -> dict[str, Any]:
    from sqlalchemy.engine import make_url

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
        from gate_contract.engine import make_engine
        from gate_contract.writer import WindowWriter

        self.engine = make_engine(database_url, **_engine_options(database_url))
        self.writer = WindowWriter(self.engine)
        self.name = "database"

    def check(self) -> None:
        """A database without our schema is an error now; an unreachable one is not
        (records are spooled until it returns)."""
        from sqlalchemy import inspect

        from gate_contract.errors import DatabaseError

        try:
            tables = set(inspect(self.engine).get_table_names())
        except Exception:  # unreachable: the first store attempt says so and spools
            return
        if "windows" not in tables:
            self.engine.dispose()
            raise DatabaseError("the database has no syscall-gate schema; run `gate-server db upgrade` first")

    def store(self, entry: dict[str, Any]) -> None:
        from gate_contract.records import RecordingInfo, WindowRecord

        with _database_errors():
            if entry["type"] == "recording":
                self.writer.save_recording(RecordingInfo.from_dict(entry["data"]))
            else:
                self.writer.write_window(WindowRecord.from_dict(entry["data"]))

    def store_windows(self, entries: list[dict[str, Any]]) -> None:
        from gate_contract.records import WindowRecord

        with _database_errors():
            self.writer.write_windows([WindowRecord.from_dict(entry["data"]) for entry in entries])

    def close(self) -> None:
        self.engine.dispose()


@contextmanager
def _database_errors() -> Iterator[None]:
    """The writer's exceptions as the sender's: Rejected, or Unavailable."""
    from pydantic import ValidationError
    from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

    from gate_contract.errors import DatabaseError

    try:
        yield
    except (IntegrityError, DataError) as exc:
        raise Rejected(f"the database refused it ({_first_line(exc)})") from None
    except (ValidationError, LookupError) as exc:
        raise Rejected(f"not a record the database can take ({_first_line(exc)})") from None
    except (SQLAlchemyError, DatabaseError) as exc:
        raise Unavailable(f"database unavailable ({_first_line(exc)})") from None


# -- the gate server -------------------------------------------------------------
# Bodies are gzipped (Content-Encoding: gzip): a window's JSON of repeated paths shrinks
# about tenfold, so a large window passes a proxy's body limit. The server stores a
# replayed upload once, so an answer lost on the way is simply sent again.

# Answers that may change on retry: the server or its database is busy or away.
RETRY_LATER = {408, 429, 500, 502, 503, 504}
# Answers a token will not change: this record, as it is, is never taken (too large, invalid,
# its recording unknown). It is set aside; a 401 or 403 is the token's and waits for a new one.
NEVER_AS_SENT = {400, 404, 409, 413, 422}
# What a server without the batch route answers POST /api/v1/windows (no `field` in its error).
NO_SUCH_ROUTE = {404, 405}
# Timeouts bound one request of the sender thread (a hung server); the loop never waits for them.
CONNECT_TIMEOUT_S, READ_TIMEOUT_S = 5, 30
GZIP_LEVEL = 6  # most of level 9's ratio on JSON, at a fraction of its time


class ServerDestination:
    def __init__(self, server_url: str, token: str):
        import requests

        self.server = server_url.rstrip("/")
        self.base = self.server + "/api/v1/recordings"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.name = f"gate server {self.server}"

    def check(self) -> None:
        """Nothing to ask first: the first upload is the recording's, and a refused
        one (token, scope) stops the recorder before it attaches."""

    def _url(self, entry: dict[str, Any]) -> str:
        data = entry["data"]
        if entry["type"] == "recording":
            return f"{self.base}/{data['uuid']}"
        return f"{self.base}/{data['recording_uuid']}/windows/{int(data['index'])}"

    def store(self, entry: dict[str, Any]) -> None:
        self._send("PUT", self._url(entry), entry["data"])

    def store_windows(self, entries: list[dict[str, Any]]) -> None:
        """POST /api/v1/windows: the server stores them in one transaction, all or none."""
        self._send("POST", self.server + "/api/v1/windows", {"windows": [entry["data"] for entry in entries]},
                   batch=True)

    def _send(self, method: str, url: str, document: Any, batch: bool = False) -> None:
        import requests

        body = gzip.compress(json.dumps(document).encode(), compresslevel=GZIP_LEVEL)
        try:
            response = self.session.request(method, url, data=body, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
                                            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
        except requests.RequestException as exc:
            raise Unavailable(f"gate server unreachable ({type(exc).__name__})") from None
        if response.ok:
            return
        try:
            answer = response.json()
        except ValueError:  # not our server's JSON (a proxy's page): its status is all we have
            answer = None
        error = answer.get("error", "") if isinstance(answer, dict) else response.reason
        message = f"gate server answered {response.status_code}: {error}"
        if batch and response.status_code in NO_SUCH_ROUTE and not (isinstance(answer, dict) and answer.get("field")):
            raise BatchUnsupported(message)
        if response.status_code in RETRY_LATER:
            raise Unavailable(message)
        raise (Rejected if response.status_code in NEVER_AS_SENT else Refused)(message)

    def close(self) -> None:
        self.session.close()
