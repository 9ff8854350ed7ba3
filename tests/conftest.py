"""Shared fixtures: a real Postgres cluster for the session, fresh databases per
test on Postgres and on SQLite (the embedded default)."""

from __future__ import annotations

import itertools
import os

import pytest

from gate_server.storage import migrate
from gate_contract.engine import make_engine
from tests.support.postgres import PostgresUnavailable, ThrowawayPostgres
from tests.support.requirements import unavailable

pytest_plugins = ["tests.support.container_fixtures"]

_db_counter = itertools.count()


def _start_postgres(**options) -> ThrowawayPostgres:
    try:
        return ThrowawayPostgres(**options).start()
    except PostgresUnavailable as exc:
        unavailable("postgres", str(exc))


@pytest.fixture(scope="session")
def ebpf():
    if os.geteuid() != 0:
        unavailable("ebpf", "the probe tests need root")
    try:
        import bcc  # noqa: F401
    except ImportError as exc:
        unavailable("ebpf", f"bcc is not importable: {exc}")


@pytest.fixture(scope="session")
def kernel_capabilities(ebpf):
    """The hooks the running kernel allows, each tried once per session (host_probe.kernel.capabilities)."""
    from host_probe.kernel.capabilities import probe_capabilities

    return probe_capabilities()


@pytest.fixture(scope="session")
def postgres_server():
    server = _start_postgres()
    yield server
    server.remove()


@pytest.fixture
def own_postgres():
    """A cluster of the test's own, which it may stop and restart without touching the shared one."""
    server = _start_postgres()
    yield server
    server.remove()


@pytest.fixture
def durable_postgres():
    """A cluster of the test's own that keeps every commit it acknowledged through a crash
    (synchronous_commit on, as Postgres ships), for tests that stop it and count rows after."""
    server = _start_postgres(durable_commits=True)
    yield server
    server.remove()


@pytest.fixture
def postgres_url(postgres_server):
    """An empty Postgres database, dropped after the test."""
    name = f"gate_test_{next(_db_counter)}"
    url = postgres_server.create_database(name)
    yield url
    postgres_server.drop_database(name)


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'gate.db'}"


@pytest.fixture(params=["postgres", "sqlite"])
def database_url(request):
    """An empty database on each supported backend."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def migrated_url(database_url):
    migrate.upgrade(database_url)
    return database_url


@pytest.fixture
def engine(migrated_url):
    engine = make_engine(migrated_url)
    yield engine
    engine.dispose()
