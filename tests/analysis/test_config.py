"""The threshold config: sensible defaults, errors that name the field, the schema the Action uses."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from gate_server.analysis.config import SCHEMA_PATH, GateConfig, json_schema, load_config
from gate_server.analysis.config_errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "config.md"


def test_empty_config_is_valid_and_sensible():
    for empty in (None, {}):
        config = load_config(empty)
        assert config == GateConfig()
    assert config.thresholds.pause_score < config.thresholds.warn_score < 100
    assert config.limits.max_new_execs == 0 and config.limits.max_sensitive_access == 0
    assert "/etc/shadow" in config.sensitive_paths.effective()
    assert config.rate_shift.kinds == ["syscall"]


@pytest.mark.parametrize("data, field, message", [
    ({"thresholds": {"pause_score": 140}}, "thresholds.pause_score",
     "thresholds.pause_score: must be between 0 and 100 (got 140)"),
    ({"thresholds": {"pause_score": 80, "warn_score": 70}}, "thresholds.warn_score",
     "thresholds.warn_score: must be >= pause_score (80)"),
    ({"limits": {"max_new_execs": -1}}, "limits.max_new_execs", "limits.max_new_execs: must be at least 0 (got -1)"),
    ({"limits": {"max_new_execs": "none"}}, "limits.max_new_execs", "must be a whole number (got 'none')"),
    ({"allow": {"destinations": ["10.0.0.0/8:5432", "10.0.0.0/33:80"]}}, "allow.destinations.1",
     "allow.destinations.1: '10.0.0.0/33:80' is not CIDR:port"),
    ({"allow": {"destinations": ["10.0.0.0/8:http"]}}, "allow.destinations.0", "must be a number, a range"),
    ({"allow": {"files": ["var/log/*"]}}, "allow.files.0", "must start with '/' or '~/'"),
    ({"rate_shift": {"kinds": ["syscall", "files"]}}, "rate_shift.kinds.1", "must be one of 'syscall', 'file'"),
    ({"rate_shift": {"fdr_q": 1.5}}, "rate_shift.fdr_q", "must be greater than 0 and less than 1 (got 1.5)"),
    ({"sufficiency": {"min_windows": 0}}, "sufficiency.min_windows", "must be at least 1 (got 0)"),
    ({"stability": "strict"}, "stability", "stability: must be a mapping of settings (got 'strict')"),
    ({"sensitive_paths": {"use_defaults": "maybe"}}, "sensitive_paths.use_defaults", "must be true or false"),
    ({"stability": {"one_off_rules": ["new_exec"], "one_off_kinds": ["exec"]}}, "stability",
     "stability: one_off_kinds is the deprecated name of one_off_rules; set only one_off_rules"),
    ({"stability": {"one_off_rules": ["exec"]}}, "stability.one_off_rules.0", "must be one of 'sensitive_access'"),
])
def test_broken_config_names_the_field(data, field, message):
    with pytest.raises(ConfigError) as caught:
        load_config(data)
    assert caught.value.field_path == field
    assert message in str(caught.value)


def test_unknown_key_is_named_with_a_suggestion():
    with pytest.raises(ConfigError) as caught:
        load_config({"limits": {"max_new_exec": 0}})
    assert caught.value.field_path == "limits.max_new_exec"
    assert str(caught.value).startswith("limits.max_new_exec: unknown key 'max_new_exec' (did you mean 'max_new_execs'?")
    with pytest.raises(ConfigError, match="unknown key 'treshold'"):
        load_config({"treshold": {}})


def test_config_that_is_not_a_mapping_is_refused():
    with pytest.raises(ConfigError, match="config: must be a mapping"):
        load_config(["thresholds"])


def test_committed_schema_matches_the_model():
    committed = json.loads(SCHEMA_PATH.read_text())
    assert committed == json_schema(), "regenerate: python -m gate_server.cli.config --write-schema"


def test_schema_command_prints_the_schema():
    result = subprocess.run([sys.executable, "-m", "gate_server.cli.config", "--schema"],
                            capture_output=True, text=True, cwd=ROOT, check=True)
    assert json.loads(result.stdout) == json_schema()


def test_check_command_exits_2_on_a_broken_config(tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text("thresholds:\n  pause_score: 140\n")
    result = subprocess.run([sys.executable, "-m", "gate_server.cli.config", "--check", str(path)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {path}:2: thresholds.pause_score: must be between 0 and 100 (got 140)"


def test_schema_rejects_what_the_model_rejects():
    validator = jsonschema.Draft202012Validator(json_schema())
    assert not list(validator.iter_errors({}))
    assert list(validator.iter_errors({"limits": {"max_new_exec": 0}}))  # unknown key
    assert list(validator.iter_errors({"thresholds": {"pause_score": 140}}))
    assert list(validator.iter_errors({"rate_shift": {"kinds": ["files"]}}))


def _fields(model, prefix=""):
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
            yield from _fields(annotation, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}"


def test_docs_document_every_field():
    documented = set(re.findall(r"`([a-z_]+(?:\.[a-z_]+)*)`", DOCS.read_text()))
    missing = [field for field in _fields(GateConfig) if field not in documented]
    assert missing == [], f"docs/config.md lacks {missing}"


def test_docs_list_the_built_in_sensitive_paths_and_known_write_paths():
    from gate_server.analysis.config import DEFAULT_KNOWN_WRITE_PATHS, DEFAULT_SENSITIVE_PATHS

    prose = re.sub(r"```.*?```", "", DOCS.read_text(), flags=re.DOTALL)
    documented = set(re.findall(r"`([^`]+)`", prose))
    assert [p for p in DEFAULT_SENSITIVE_PATHS + DEFAULT_KNOWN_WRITE_PATHS if p not in documented] == []
