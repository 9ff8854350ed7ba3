"""Engines with the settings every process needs, and errors a person can read."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError

from gate_contract.errors import DatabaseError


def mask_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparseable URL has no password we can find; show nothing of it
        return "<unparseable database URL>"


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    return lines[0] if lines else type(orig).__name__


def make_engine(url: str, *, check: bool = False, lock_timeout_ms: int = 0, **kwargs) -> Engine:
    """Create an engine; with `check`, connect once so a bad URL fails here, clearly. On
    Postgres, `lock_timeout_ms` bounds every wait for a lock (0: wait as long as it takes)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError(
            f"invalid database URL {mask_url(url)!s}: expected e.g. "
            "postgresql://user:pass@host/db or sqlite:////path/to/file.db"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        # SQLAlchemy 2.1 picks psycopg 3 for a bare scheme; we ship psycopg2-binary.
        parsed = parsed.set(drivername="postgresql+psycopg2")
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if is_sqlite and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not is_sqlite:
        kwargs.setdefault("pool_pre_ping", True)
        connect_args = kwargs.setdefault("connect_args", {})
        connect_args.setdefault("connect_timeout", 5)
        if lock_timeout_ms:
            options = f"{connect_args.get('options', '')} -c lock_timeout={int(lock_timeout_ms)}"
            connect_args["options"] = options.strip()
    else:
        kwargs.setdefault("connect_args", {}).setdefault("timeout", 30)
    try:
        engine = create_engine(parsed, **kwargs)
    except (NoSuchModuleError, ArgumentError, ImportError) as exc:
        raise DatabaseError(f"unsupported database URL {mask_url(url)}: {_first_line(exc)}") from None
    if is_sqlite:
        if parsed.database and parsed.database != ":memory:":
            event.listen(engine, "do_connect", _private_sqlite_files(Path(parsed.database)))
        event.listen(engine, "connect", _sqlite_pragmas)
    if check:
        check_connection(engine)
    return engine


def _private_sqlite_files(database: Path):
    """Before each new connection: the database file exists with mode 0600, and so do
    its -wal and -shm files (SQLite gives them the database file's mode). SQLite itself
    would create it 0644, readable by every user of the host: it holds every profile,
    decision and token hash."""
    def before_connect(_dialect, _record, _args, _params) -> None:
        try:
            # O_EXCL: never open an existing database here. Closing any descriptor of the file
            # drops every POSIX lock this process holds on it, the locks of its other SQLite
            # connections too (a worker's job threads and requests): that corrupted the file.
            os.close(os.open(database, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
        except FileExistsError:
            pass
        except OSError:
            return  # SQLite's own open says what is wrong, in its words
        try:
            for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
                if path.exists() and path.stat().st_mode & 0o077:
                    path.chmod(0o600)
        except OSError:
            pass  # SQLite's own open says what is wrong, in its words
    return before_connect


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the gunicorn workers read while the probe writes; FKs for cascades.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def check_connection(engine: Engine) -> None:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except (OperationalError, SQLAlchemyError) as exc:
        raise DatabaseError(
            f"cannot reach database {mask_url(engine.url.render_as_string(hide_password=False))}: "
            f"{_first_line(exc)}"
        ) from None
