"""The database for a Flask app: one engine per app (so per gunicorn worker), one short
session per request, closed at teardown."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from gate_server.settings import Settings
from gate_contract.engine import check_connection, make_engine
from gate_server.storage.profiles import ProfileCache

_EXTENSION = "gate_db"
_PROFILE_CACHE = "gate_profile_cache"
# A request waits this long for a lock (a migration, a long prune), then answers 503 with
# Retry-After: the client retries, instead of the worker hanging until gunicorn kills it (30 s).
LOCK_TIMEOUT_MS = 5000


def init_app(app: Flask, settings: Settings) -> None:
    # make_engine does not connect: an app (and a worker) starts even while the database is away.
    engine = make_engine(settings.database_url, lock_timeout_ms=LOCK_TIMEOUT_MS)
    app.extensions[_EXTENSION] = sessionmaker(engine, expire_on_commit=False)
    # With 0 counts, no window is kept, but feature names still are (they never change).
    app.extensions[_PROFILE_CACHE] = ProfileCache(max_counts=settings.profile_cache_counts)
    app.teardown_appcontext(_close_session)


def engine() -> Engine:
    return current_app.extensions[_EXTENSION].kw["bind"]


def session() -> Session:
    """The request's session, created on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions[_EXTENSION]()
    return g.db_session


def session_factory() -> sessionmaker:
    """New sessions of this app's engine, for work off the request (a background thread)."""
    return current_app.extensions[_EXTENSION]


def profile_cache() -> ProfileCache:
    """This app's (so this worker's) cache of stored windows and feature names."""
    return current_app.extensions[_PROFILE_CACHE]


def ping() -> None:
    """Raise storage.DatabaseError when the database cannot be reached."""
    check_connection(engine())


def _close_session(_exc) -> None:
    db_session = g.pop("db_session", None)
    if db_session is not None:
        db_session.close()
