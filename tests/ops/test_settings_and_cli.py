"""The server's settings from the environment, and the CLI's manners: a bad value is one
line and exit 2, booleans read as people write them, secrets from files, help that keeps
its examples on their own lines, and no traceback when the reader of stdout goes away."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from gate_server.cli import build_parser
from gate_server.settings import Settings, SettingsError

GATE_SERVER = [sys.executable, "-m", "gate_server.cli"]


def run_cli(*argv: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*GATE_SERVER, *argv], env=env, capture_output=True, text=True, timeout=60, **kwargs)


def all_parsers(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from all_parsers(child)


def test_every_help_keeps_its_examples_one_per_line():
    with_examples = [p for p in all_parsers(build_parser()) if p.epilog and "\n" in p.epilog.strip()]
    assert len(with_examples) >= 6
    for parser in with_examples:
        help_text = parser.format_help()
        for line in parser.epilog.strip().splitlines():
            assert line.rstrip() in help_text, f"{parser.prog}: the example line {line!r} was reflowed"


def test_schema_into_a_pipe_closed_early_has_no_traceback(tmp_path):
    piped = subprocess.run(f"{sys.executable} -m gate_server.cli config --schema | head -1",
                           shell=True, capture_output=True, text=True, timeout=60,
                           env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert piped.stdout.strip() == "{"
    assert "Traceback" not in piped.stderr and "BrokenPipe" not in piped.stderr


@pytest.mark.parametrize("written, expected", [
    ("1048576", 1 << 20), ("1m", 1 << 20), ("1MiB", 1 << 20), ("512k", 512 << 10), ("2g", 2 << 30),
])
def test_a_byte_size_may_carry_a_unit(written, expected):
    assert Settings.from_env({"GATE_MAX_REQUEST_BYTES": written}).max_request_bytes == expected


@pytest.mark.parametrize("written, expected", [
    ("on", True), ("yes", True), ("1", True), ("true", True), ("TRUE", True),
    ("off", False), ("no", False), ("0", False), ("false", False),
])
def test_booleans_read_as_people_write_them(written, expected):
    assert Settings.from_env({"GATE_WEBHOOK_ON_WARN": written}).webhook_on_warn is expected


@pytest.mark.parametrize("variable, value, message", [
    ("GATE_MAX_REQUEST_BYTES", "lots", "GATE_MAX_REQUEST_BYTES='lots' is not valid: expected a byte count"),
    ("GATE_WEBHOOK_ON_WARN", "maybe", "GATE_WEBHOOK_ON_WARN='maybe' is not valid"),
    ("GATE_IDEMPOTENCY_HOURS", "-1", "GATE_IDEMPOTENCY_HOURS='-1' is not valid"),
    ("GATE_SECRET_KEY_FILE", "/nonexistent/key", "GATE_SECRET_KEY_FILE=/nonexistent/key: cannot read the file"),
])
def test_an_unusable_value_is_one_line_naming_the_variable_and_exit_2(variable, value, message, tmp_path):
    with pytest.raises(SettingsError, match="^" + message.replace("(", r"\(").replace("?", r"\?")):
        Settings.from_env({variable: value})
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GATE_DATA_DIR": str(tmp_path), variable: value}
    done = run_cli("doctor", env=env)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"gate-server: error: {message}") and len(done.stderr.splitlines()) == 1


def test_secrets_come_from_files_and_the_variable_itself_wins(tmp_path):
    (tmp_path / "key").write_text("from-a-file\n")
    (tmp_path / "url").write_text("postgresql://gate:pw@db/gate\n")
    env = {"GATE_SECRET_KEY_FILE": str(tmp_path / "key"), "GATE_DATABASE_URL_FILE": str(tmp_path / "url")}
    settings = Settings.from_env(env)
    assert settings.secret_key == "from-a-file" and settings.database_url == "postgresql://gate:pw@db/gate"
    assert Settings.from_env({**env, "GATE_SECRET_KEY": "direct"}).secret_key == "direct"


def test_the_bind_address_comes_from_the_environment_and_defaults_to_loopback():
    assert Settings.from_env({}).bind == "127.0.0.1:8080"
    assert Settings.from_env({"GATE_BIND": "0.0.0.0:9000"}).bind == "0.0.0.0:9000"


def test_serve_listens_where_gate_bind_says(sqlite_url, tmp_path):
    from tests.support.live_server import LiveServer

    server = LiveServer(sqlite_url, workers=1)
    server.command = lambda: [*GATE_SERVER, "serve", "--workers", "1"]
    server.extra_env = {"GATE_BIND": f"127.0.0.1:{server.port}"}
    with server:
        pass  # start() waited for /healthz on that port
