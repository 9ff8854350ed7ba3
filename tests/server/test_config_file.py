"""Reading a threshold config file (gate_server/config_file.py): errors name the file and line."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from gate_server.analysis.config import GateConfig, json_schema
from gate_server.analysis.config_errors import ConfigError
from gate_server.config_file import load_config_file

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "syscall-gate.yml"


def test_yaml_syntax_error_gives_file_line_and_reason(tmp_path):
    path = tmp_path / "syscall-gate.yml"
    path.write_text("thresholds:\n  pause_score: 50\n  warn_score: [70\nlimits: {}\n")
    with pytest.raises(ConfigError) as caught:
        load_config_file(path)
    assert caught.value.line == 4
    assert str(caught.value).startswith(f"{path}:4: not valid YAML: ")


def test_invalid_value_in_file_gives_its_line(tmp_path):
    path = tmp_path / "syscall-gate.yml"
    path.write_text("# gate\nallow:\n  destinations:\n    - 10.0.0.0/8:5432\n    - db.internal:5432\n")
    with pytest.raises(ConfigError) as caught:
        load_config_file(path)
    assert (caught.value.line, caught.value.field_path) == (5, "allow.destinations.1")
    assert str(caught.value).startswith(f"{path}:5: allow.destinations.1: 'db.internal:5432' is not CIDR:port")


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_config_file(tmp_path / "absent.yml")


def test_empty_file_is_the_default_config(tmp_path):
    path = tmp_path / "empty.yml"
    path.write_text("# nothing set\n")
    assert load_config_file(path) == GateConfig()


def test_example_config_validates_and_changes_defaults():
    config = load_config_file(EXAMPLE)
    assert config != GateConfig()
    jsonschema.validate(yaml.safe_load(EXAMPLE.read_text()), json_schema())
