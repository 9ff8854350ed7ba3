"""Reading a threshold config file (`--config FILE` of `gate-server check` and `drift`,
`gate-server config --check`): the judge takes the parsed object, never a path."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import yaml

from gate_server.analysis.config import GateConfig, load_config
from gate_server.analysis.config_errors import ConfigError


def load_config_file(path) -> GateConfig:
    """Read and validate a YAML config file; errors name the file, and the line when known."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})", "") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise from_yaml_error(exc, path) from None
    try:
        return load_config(data)
    except ConfigError as exc:
        raise in_file(exc, path, text) from None


def in_file(error: ConfigError, path: Path, text: str) -> ConfigError:
    """The same error, prefixed with the file and the line of the field in it."""
    line = line_of(text, error.field_path) if error.field_path else None
    where = f"{path}:{line}" if line else str(path)
    return ConfigError(f"{where}: {error.message}", error.field_path, line)


def from_yaml_error(exc: yaml.YAMLError, path: Path) -> ConfigError:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is None:
        return ConfigError(f"{path}: not valid YAML ({problem})", "")
    line = mark.line + 1
    return ConfigError(f"{path}:{line}: not valid YAML: {problem} (column {mark.column + 1})", "", line)


def line_of(text: str, field_path: str) -> Optional[int]:
    """1-based line of a dotted field path in YAML text (the deepest part found)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in field_path.split("."):
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == part), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
            line = node.start_mark.line + 1
        else:
            break
    return line
