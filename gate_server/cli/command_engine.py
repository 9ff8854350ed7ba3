"""The database for one CLI command: connected up front, errors as one line (exit 2)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from gate_server.storage.engine import DatabaseError, make_engine, mask_url


@contextmanager
def command_engine(url: str) -> Iterator[Engine]:
    """An engine that has connected once; a failing query (say, no schema yet) becomes a DatabaseError."""
    engine = make_engine(url, check=True)
    try:
        yield engine
    except SQLAlchemyError as exc:
        first_line = (str(getattr(exc, "orig", None) or exc).splitlines() or [type(exc).__name__])[0]
        raise DatabaseError(f"database {mask_url(url)} failed: {first_line} "
                            "(is the schema there? run: gate-server db upgrade)") from None
    finally:
        engine.dispose()
