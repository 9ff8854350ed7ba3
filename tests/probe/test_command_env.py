"""`host-probe record -- CMD`: the command under test gets neither the gate's
credentials nor root. It runs without GATE_* (or any copy of their secrets) in its
environment, as --user, or as the sudo caller when there is one."""

from __future__ import annotations

import os
import pwd

import pytest

from tests.probe.conftest import host_probe, migrated, record_args

SHOW = ["sh", "-c", "env; echo uid=$(id -u) gid=$(id -g)"]
TOKEN = "sg_not-for-the-service-0123456789"


@pytest.fixture
def probe_env(tmp_path):
    db_url = migrated(f"sqlite:///{tmp_path / 'gate.db'}")
    env = {k: v for k, v in os.environ.items() if k != "SUDO_USER"}
    env.update(GATE_DATABASE_URL=db_url, GATE_INGEST_TOKEN=TOKEN, GATE_SECRET_KEY="server-secret",
               COPY_OF_TOKEN=f"x{TOKEN}x", SERVICE_SETTING="kept")
    return db_url, env


def run(tmp_path, probe_env, *options: str):
    db_url, env = probe_env
    result = host_probe(*record_args(db_url, tmp_path / "spool", "env", *options, "--", *SHOW), env=env)
    assert result.returncode == 0, result.stderr
    shown = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line and " " not in line)
    return result, shown


def test_the_command_gets_no_gate_variable_and_no_copy_of_a_secret(ebpf, tmp_path, probe_env):
    _, shown = run(tmp_path, probe_env, "--user", "nobody")
    assert shown["SERVICE_SETTING"] == "kept"
    assert not [name for name in shown if name.startswith("GATE_")]
    assert "COPY_OF_TOKEN" not in shown
    assert TOKEN not in "\n".join(f"{k}={v}" for k, v in shown.items())


def test_user_runs_the_command_as_that_user(ebpf, tmp_path, probe_env):
    nobody = pwd.getpwnam("nobody")
    result, shown = run(tmp_path, probe_env, "--user", "nobody")
    assert f"uid={nobody.pw_uid} gid={nobody.pw_gid}" in result.stdout
    assert shown["USER"] == "nobody" and shown["HOME"] == nobody.pw_dir


def test_the_sudo_caller_is_the_default_user(ebpf, tmp_path, probe_env):
    db_url, env = probe_env
    nobody = pwd.getpwnam("nobody")
    result, _ = run(tmp_path, (db_url, {**env, "SUDO_USER": "nobody"}))
    assert f"uid={nobody.pw_uid}" in result.stdout
    assert "runs as root" not in result.stderr


def test_without_user_or_sudo_the_command_runs_as_root_and_the_probe_says_so(ebpf, tmp_path, probe_env):
    result, _ = run(tmp_path, probe_env)
    assert "uid=0 gid=0" in result.stdout
    assert "sh runs as root, like the probe (no --user, and no SUDO_USER)" in result.stderr


def test_an_unknown_user_is_refused_in_one_line(tmp_path, probe_env):
    db_url, env = probe_env
    result = host_probe(*record_args(db_url, tmp_path / "spool", "env", "--user", "no-such-user-xyz", "--", "true"),
                        env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == "host-probe: error: --user no-such-user-xyz: no such user on this host"
