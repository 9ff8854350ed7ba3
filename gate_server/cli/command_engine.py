"""The database for one CLI command: connected up front, errors as one line (exit 2)."""

from __future__ import annotations

import getpass
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from gate_server.cli.errors import UsageError
from gate_server.services.errors import DomainError
from gate_contract.engine import DatabaseError, make_engine, mask_url

T = TypeVar("T")


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


def in_transaction(url: str, work: Callable[[Session], T]) -> T:
    """Run `work` in one committed transaction; a domain error becomes a UsageError (exit 2)."""
    with command_engine(url) as engine:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            try:
                return work(session)
            except DomainError as exc:
                raise UsageError(exc.message) from None


def cli_actor() -> str:
    """Who ran the command, as audited: the OS user."""
    return f"{getpass.getuser()} (cli)"
