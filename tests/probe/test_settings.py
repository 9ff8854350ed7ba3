"""One settings model for `host-probe record` and `host-probe agent`: a value given by
its flag or by HOST_PROBE_<FIELD> means the same to both commands, and a bad one is
one line naming the flag or variable it came from (exit 2)."""

from __future__ import annotations

import os

import pytest

from host_probe.commands.cli import UsageError, agent_overrides, build_parser, engine_config_of, settings_of
from host_probe.recording.agent import engine_config
from host_probe.recording.agent_config import load_agent_config
from tests.probe.conftest import host_probe

SAME = ("window_s", "startup_s", "detail_keys", "spool_dir", "file_hook", "batch_windows", "sample_every",
        "rate_limit", "ringbuf_pages", "server_url", "ingest_token", "database_url")


def effective(command: str, config_file, *flags: str):
    """The engine configuration `record` or `agent` would run with."""
    if command == "record":
        args = build_parser().parse_args(["record", "--service", "web", "--version", "v1", *flags, "--", "true"])
        config = engine_config_of(settings_of(args))
    else:
        args = build_parser().parse_args(["agent", "--config", str(config_file), *flags])
        settings = settings_of(args)
        config = engine_config(load_agent_config(config_file, overrides=agent_overrides(settings)),
                               engine_config_of(settings))
    return {name: getattr(config, name) for name in SAME}


@pytest.mark.parametrize("given", ["flags", "environment"])
def test_a_value_means_the_same_to_record_and_agent(given, tmp_path, monkeypatch):
    config_file = tmp_path / "agent.yml"
    # the file's own values lose to what the operator set on the command line or in the environment
    config_file.write_text("window: 30s\nstartup: 1m\ndetail_keys: 65536\n")
    values = {"window": "2s", "startup": "4s", "detail_keys": "4096", "spool": str(tmp_path / "spool"),
              "file_hook": "sys_enter", "batch_windows": "7", "sample": "3", "rate_limit": "500/s",
              "ringbuf_pages": "128", "server": "https://gate.example.com"}
    monkeypatch.setenv("GATE_INGEST_TOKEN", "sg_test")
    monkeypatch.setenv("GATE_DATABASE_URL", f"sqlite:///{tmp_path / 'gate.db'}")
    flags: list[str] = []
    for name, value in values.items():
        if given == "flags":
            flags += ["--" + name.replace("_", "-"), value]
        else:
            monkeypatch.setenv("HOST_PROBE_" + name.upper(), value)
    record, agent = effective("record", config_file, *flags), effective("agent", config_file, *flags)
    assert record == agent
    assert (record["window_s"], record["startup_s"], record["detail_keys"], record["rate_limit"]) == (2, 4, 4096, 500)
    assert (record["batch_windows"], record["file_hook"], str(record["spool_dir"])) == (7, "sys_enter", values["spool"])


def test_a_flag_wins_over_its_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("HOST_PROBE_WINDOW", "5s")
    config_file = tmp_path / "agent.yml"
    config_file.write_text("{}\n")
    assert effective("record", config_file, "--window", "3s")["window_s"] == 3
    assert effective("agent", config_file, "--window", "3s")["window_s"] == 3
    assert effective("agent", config_file)["window_s"] == 5


BAD = [
    ("--window", "HOST_PROBE_WINDOW", "soon", "invalid duration 'soon'"),
    ("--ringbuf-pages", "HOST_PROBE_RINGBUF_PAGES", "3", "must be a power of two"),
    ("--file-hook", "HOST_PROBE_FILE_HOOK", "kprobe", "'auto', 'fentry' or 'sys_enter'"),
    ("--batch-windows", "HOST_PROBE_BATCH_WINDOWS", "0", "greater than or equal to 1"),
]


def commands(config_file) -> tuple[list[str], list[str]]:
    return (["record", "--service", "web", "--version", "v1", "--", "true"], ["agent", "--config", str(config_file)])


@pytest.mark.parametrize("flag, variable, value, message", BAD)
def test_a_bad_value_is_refused_naming_its_flag_or_variable(tmp_path, monkeypatch, flag, variable, value, message):
    for command in commands(tmp_path / "agent.yml"):
        with pytest.raises(UsageError) as by_flag:
            settings_of(build_parser().parse_args(command[:-2] + [flag, value] + command[-2:]
                                                  if command[0] == "record" else command + [flag, value]))
        assert str(by_flag.value).startswith(f"{flag} {value!r}: ") and message in str(by_flag.value)
        with monkeypatch.context() as patch:
            patch.setenv(variable, value)
            with pytest.raises(UsageError) as by_variable:
                settings_of(build_parser().parse_args(command))
        assert str(by_variable.value).startswith(f"{variable} {value!r}: ") and message in str(by_variable.value)


def test_the_commands_say_a_bad_value_in_one_line_and_exit_2(tmp_path):
    record, agent = commands(tmp_path / "agent.yml")
    by_flag = host_probe(*agent, "--window", "soon")
    by_variable = host_probe(*record, env={**os.environ, "HOST_PROBE_WINDOW": "soon"})
    assert (by_flag.returncode, by_variable.returncode) == (2, 2)
    assert by_flag.stderr.startswith("host-probe: error: --window 'soon': invalid duration")
    assert by_variable.stderr.startswith("host-probe: error: HOST_PROBE_WINDOW 'soon': invalid duration")
    assert len(by_flag.stderr.splitlines()) == len(by_variable.stderr.splitlines()) == 1
