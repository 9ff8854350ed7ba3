"""The threshold config from the user's repository: read, parsed and checked
against the gate's JSON Schema before anything is sent, so a typo fails the step
with an annotation on the offending line instead of a round trip to the server.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

import jsonschema
import jsonschema.exceptions
import yaml

# A copy of gate_server/analysis/config_schema.json (a test keeps them identical):
# the client cannot import the repository it ships in.
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "config_schema.json"
MAX_REPORTED_ERRORS = 10


@dataclass
class ConfigProblem:
    message: str
    line: Optional[int] = None  # 1-based
    column: Optional[int] = None  # 1-based


@dataclass
class LoadedConfig:
    path: Path
    found: bool
    data: Optional[dict] = None
    problems: list[ConfigProblem] = field(default_factory=list)


def load_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def _mark_position(mark: Any) -> tuple[Optional[int], Optional[int]]:
    if mark is None:
        return None, None
    return mark.line + 1, mark.column + 1


def _child_node(node: yaml.Node, step: Union[str, int]) -> tuple[Optional[yaml.Node], Optional[yaml.Node]]:
    """(key node, value node) for one step of a JSON path inside a composed YAML node."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(step):
                return key_node, value_node
    elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
        return node.value[step], node.value[step]
    return None, None


def locate(root: Optional[yaml.Node], path: Sequence[Union[str, int]]) -> tuple[Optional[int], Optional[int]]:
    """Line and column of the key (or item) a JSON path names; the deepest one found if it is absent."""
    if root is None:
        return None, None
    node, best = root, root.start_mark
    for step in path:
        key_node, value_node = _child_node(node, step)
        if key_node is None:
            break
        best, node = key_node.start_mark, value_node
    return _mark_position(best)


def _unexpected_keys(error: jsonschema.ValidationError) -> list[str]:
    if error.validator != "additionalProperties" or not isinstance(error.instance, dict):
        return []
    allowed = set((error.schema or {}).get("properties", {}))
    patterns = list((error.schema or {}).get("patternProperties", {}))
    return [
        key for key in error.instance
        if key not in allowed and not any(re.search(pattern, key) for pattern in patterns)
    ]


def _dotted(path: Iterable[Union[str, int]]) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


def _readable(error: jsonschema.ValidationError) -> str:
    """For anyOf/oneOf (pydantic's Optional[int] is anyOf[int, null]) say which branch came closest."""
    if error.context:
        non_null = [sub for sub in error.context if sub.validator != "type" or sub.validator_value != "null"]
        closest = jsonschema.exceptions.best_match(non_null or error.context)
        if closest is not None:
            return closest.message
    return error.message


def schema_problems(data: Any, root: Optional[yaml.Node], schema: dict) -> list[ConfigProblem]:
    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    problems = []
    for error in errors[:MAX_REPORTED_ERRORS]:
        path = list(error.absolute_path)
        extra = _unexpected_keys(error)
        if extra:
            for key in extra:
                line, column = locate(root, path + [key])
                where = _dotted(path + [key])
                known = list((error.schema or {}).get("properties", {}))
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else f"; known settings here: {', '.join(known)}"
                problems.append(ConfigProblem(f"unknown setting '{where}'{hint}", line, column))
            continue
        line, column = locate(root, path)
        where = _dotted(path) or "the config"
        problems.append(ConfigProblem(f"{where}: {_readable(error)}", line, column))
    return sorted(problems, key=lambda problem: (problem.line or 0, problem.column or 0))


def load_config(path: Path, schema: Optional[dict] = None) -> LoadedConfig:
    """Parse and validate the config file; problems carry the line they point at."""
    if not path.is_file():
        return LoadedConfig(path=path, found=False)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return LoadedConfig(path=path, found=True, problems=[ConfigProblem(f"cannot read the config: {exc}")])
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line, column = _mark_position(mark)
        reason = " ".join(str(part) for part in (getattr(exc, "context", None), getattr(exc, "problem", None)) if part)
        return LoadedConfig(
            path=path, found=True,
            problems=[ConfigProblem(f"invalid YAML: {reason or exc}", line, column)],
        )
    if data is None:
        data = {}
    if not isinstance(data, dict):
        line, column = locate(root, [])
        return LoadedConfig(
            path=path, found=True,
            problems=[ConfigProblem(f"the config must be a mapping of settings, not a {type(data).__name__}", line, column)],
        )
    problems = schema_problems(data, root, schema if schema is not None else load_schema())
    return LoadedConfig(path=path, found=True, data=data, problems=problems)


def locate_field(path: Path, field_path: str) -> tuple[Optional[int], Optional[int]]:
    """Line of a field the server named ('config.thresholds.x' or 'thresholds.x[0]') in the config file."""
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None, None
    steps: list[Union[str, int]] = []
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", field_path):
        steps.append(int(part[1:-1]) if part.startswith("[") else part)
    if steps and steps[0] == "config":
        steps = steps[1:]
    return locate(root, steps)
