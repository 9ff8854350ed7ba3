"""The ops commands on a database that is unusable: one line, exit 2, no traceback."""

from __future__ import annotations

import pytest

from gate_server.cli import main

COMMANDS = [
    ["prune", "--older-than", "30d"],
    ["export-seccomp", "--service", "web", "--version", "v1"],
    ["drift", "--service", "web", "--version", "v1"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_database_without_schema_says_to_upgrade(command, sqlite_url, capsys):
    assert main(command + ["--db", sqlite_url]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gate-server: error: database ") and "gate-server db upgrade" in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_an_unreachable_database_exits_2(command, capsys):
    assert main(command + ["--db", "postgresql://nobody:secret@127.0.0.1:9/none"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach database" in err and "secret" not in err
