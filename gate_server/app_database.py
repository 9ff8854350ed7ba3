"""The database for a Flask app: one engine per app (so per gunicorn worker), one short
session per request, and the one place that ends its transaction.

Views and services never commit. After a view has answered, `_end_transaction`
commits when the response is a success (status < 400) and rolls back otherwise, so
a refused request leaves nothing behind (a view whose error status is its result, the
Flagger webhook's 412 for a pause, says so with `keep_work_of_an_error_answer`); a commit the database refuses becomes the
same JSON error (503 with Retry-After when the database is away) a failed query gets.
Work off the request (a background job) and the few writes that must not wait for
the request's end use `transaction()`.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from flask import Flask, Response, current_app, g
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from gate_server.api.errors import database_error_response
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
    app.after_request(_end_transaction)
    app.teardown_appcontext(_close_session)


def engine() -> Engine:
    return current_app.extensions[_EXTENSION].kw["bind"]


def session() -> Session:
    """The request's session, created on first use; its transaction ends with the request."""
    if "db_session" not in g:
        g.db_session = current_app.extensions[_EXTENSION]()
    return g.db_session


def session_factory(app: Flask | None = None) -> sessionmaker:
    """New sessions of this app's engine, for work off the request (a background thread)."""
    return (app or current_app).extensions[_EXTENSION]


@contextmanager
def transaction(factory: sessionmaker | None = None) -> Iterator[Session]:
    """A session of its own, committed when the block ends and rolled back when it raises."""
    with (factory or session_factory()).begin() as own_session:
        yield own_session


def profile_cache() -> ProfileCache:
    """This app's (so this worker's) cache of stored windows and feature names."""
    return current_app.extensions[_PROFILE_CACHE]


def ping() -> None:
    """Raise storage.DatabaseError when the database cannot be reached."""
    check_connection(engine())


def keep_work_of_an_error_answer() -> None:
    """The view's work stands although it answers with an error status: an answer whose
    status is the result itself (the Flagger webhook's 412 for a pause), not a refusal."""
    g.db_keep_error_answer = True


def _end_transaction(response: Response) -> Response:
    db_session = g.get("db_session")
    if db_session is None:
        return response
    if response.status_code >= 400 and not g.get("db_keep_error_answer"):
        db_session.rollback()
        return response
    try:
        db_session.commit()
    except SQLAlchemyError as exc:
        db_session.rollback()
        # An exception raised here would become a bare 500: answer as a failed query does.
        return database_error_response(exc)
    return response


def _close_session(_exc) -> None:
    db_session = g.pop("db_session", None)
    if db_session is not None:
        db_session.close()
