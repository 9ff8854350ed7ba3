"""Alembic environment: the URL comes from the app's Settings (or the caller),
and the target metadata is the one models module."""

from alembic import context
from sqlalchemy import pool

from gate_server.settings import Settings
from gate_contract.engine import make_engine
from gate_contract.models import Base
from gate_server.storage import partitions

config = context.config
target_metadata = Base.metadata


def database_url() -> str:
    return config.attributes.get("database_url") or Settings.from_env().database_url


def run_migrations_offline() -> None:
    context.configure(url=database_url(), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def not_a_partition(obj, name, type_, reflected, compare_to) -> bool:
    """Autogenerate ignores the monthly partitions of `windows` (Postgres): no model has them."""
    return not (type_ == "table" and partitions.is_partition(name))


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)


def _run(connection) -> None:
    # render_as_batch: SQLite can only ALTER through table copies.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                      include_object=not_a_partition)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
