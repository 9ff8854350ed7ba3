"""Alembic owns the schema: migrations create it and agree with the models."""

import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from gate_contract.models import Base
from gate_server.storage import partitions


def not_a_partition(obj, name, type_, *_) -> bool:
    return not (type_ == "table" and partitions.is_partition(name))


def test_models_and_migrations_agree(engine):
    with engine.connect() as conn:
        # windows' monthly partitions (Postgres, migration 0014) are no model's tables
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": not_a_partition})
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"models and migrations differ; write a migration for: {diff}"


def test_upgrade_creates_every_table(engine):
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_upgrade_is_idempotent(migrated_url):
    from gate_server.storage import migrate

    migrate.upgrade(migrated_url)
    assert migrate.current_revision(migrated_url) is not None


def _gate_server(*args, env=None):
    return subprocess.run([sys.executable, "-m", "gate_server.cli", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def test_cli_db_upgrade_creates_schema_on_each_backend(database_url):
    result = _gate_server("db", "upgrade", "--db", database_url)
    assert result.returncode == 0, result.stderr
    assert "at revision" in result.stdout
    from gate_server.storage import migrate

    assert migrate.current_revision(database_url) is not None


def test_cli_reads_database_url_from_environment(tmp_path):
    import os

    env = {**os.environ, "GATE_DATABASE_URL": f"sqlite:///{tmp_path / 'env.db'}"}
    result = _gate_server("db", "upgrade", env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "env.db").exists()


def test_unreachable_database_is_one_clear_line_with_masked_password():
    result = _gate_server("db", "upgrade", "--db", "postgresql://gate:hunter2@127.0.0.1:1/nope")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "hunter2" not in result.stderr
    assert "cannot reach database" in result.stderr
    assert "***" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_malformed_database_url_is_refused_clearly():
    result = _gate_server("db", "upgrade", "--db", "not a url")
    assert result.returncode == 2
    assert "invalid database URL" in result.stderr
    assert "Traceback" not in result.stderr
