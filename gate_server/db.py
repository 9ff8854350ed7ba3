"""The database for a Flask app: one engine per app (so per gunicorn worker), one short
session per request, closed at teardown."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from gate_server.settings import Settings
from gate_server.storage.engine import check_connection, make_engine

_EXTENSION = "gate_db"


def init_app(app: Flask, settings: Settings) -> None:
    # make_engine does not connect: an app (and a worker) starts even while the database is away.
    engine = make_engine(settings.database_url)
    app.extensions[_EXTENSION] = sessionmaker(engine, expire_on_commit=False)
    app.teardown_appcontext(_close_session)


def engine() -> Engine:
    return current_app.extensions[_EXTENSION].kw["bind"]


def session() -> Session:
    """The request's session, created on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions[_EXTENSION]()
    return g.db_session


def ping() -> None:
    """Raise storage.DatabaseError when the database cannot be reached."""
    check_connection(engine())


def _close_session(_exc) -> None:
    db_session = g.pop("db_session", None)
    if db_session is not None:
        db_session.close()
