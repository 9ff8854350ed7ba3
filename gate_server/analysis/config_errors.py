"""Config errors a person can act on: the field path, the reason and the value given,
instead of pydantic's raw report (gate_server/config_file.py adds the file and line)."""

from __future__ import annotations

import difflib
from typing import Any, Optional

from pydantic import BaseModel, ValidationError


class ConfigError(ValueError):
    """A broken threshold config. `field_path` is dotted ("thresholds.pause_score",
    "allow.destinations.2"); empty when the fault is not one field (e.g. YAML syntax)."""

    def __init__(self, message: str, field_path: str = "", line: Optional[int] = None):
        super().__init__(message)
        self.message = message
        self.field_path = field_path
        self.line = line

    def __str__(self) -> str:
        return self.message


def from_validation_error(exc: ValidationError, model: type[BaseModel]) -> ConfigError:
    errors = exc.errors(include_url=False)
    first = errors[0]
    field_path = ".".join(str(part) for part in first["loc"])
    message = f"{field_path or 'config'}: {_reason(first, model)}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return ConfigError(message, field_path)


def _show(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (int, str)):
        return str(value) if isinstance(value, int) else repr(value)
    return type(value).__name__


def _reason(error: dict, model: type[BaseModel]) -> str:
    kind, loc, given = error["type"], error["loc"], error.get("input")
    if kind == "extra_forbidden":
        known = list(_model_at(model, loc[:-1]).model_fields) if _model_at(model, loc[:-1]) else []
        hint = difflib.get_close_matches(str(loc[-1]), known, n=1)
        suggestion = f"did you mean '{hint[0]}'? " if hint else ""
        return f"unknown key '{loc[-1]}' ({suggestion}known keys: {', '.join(known)})"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return f"{_bounds(model, loc, error.get('ctx', {}))} (got {_show(given)})"
    simple = {
        "int_type": "must be a whole number", "int_parsing": "must be a whole number",
        "int_from_float": "must be a whole number", "float_type": "must be a number",
        "float_parsing": "must be a number", "bool_type": "must be true or false",
        "bool_parsing": "must be true or false", "list_type": "must be a list",
        "model_type": "must be a mapping of settings", "dict_type": "must be a mapping of settings",
        "string_type": "must be a string",
    }
    if kind in simple:
        return f"{simple[kind]} (got {_show(given)})"
    if kind == "literal_error":
        return f"must be one of {error['ctx']['expected']} (got {_show(given)})"
    message = error["msg"]
    return message.removeprefix("Value error, ")


def _model_at(model: type[BaseModel], loc: tuple) -> Optional[type[BaseModel]]:
    for part in loc:
        field = model.model_fields.get(str(part)) if isinstance(part, str) else None
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return None
        model = field.annotation
    return model


def _bounds(model: type[BaseModel], loc: tuple, ctx: dict) -> str:
    parent = _model_at(model, loc[:-1])
    field = parent.model_fields.get(str(loc[-1])) if parent else None
    limits: dict[str, Any] = dict(ctx)
    for item in field.metadata if field else ():
        for name in ("ge", "gt", "le", "lt"):
            if getattr(item, name, None) is not None:
                limits[name] = getattr(item, name)
    low = ("ge", limits["ge"]) if "ge" in limits else ("gt", limits["gt"]) if "gt" in limits else None
    high = ("le", limits["le"]) if "le" in limits else ("lt", limits["lt"]) if "lt" in limits else None
    if low and high and low[0] == "ge" and high[0] == "le":
        return f"must be between {_show(low[1])} and {_show(high[1])}"
    words = {"ge": "at least", "gt": "greater than", "le": "at most", "lt": "less than"}
    parts = [f"{words[pair[0]]} {_show(pair[1])}" for pair in (low, high) if pair]
    return "must be " + " and ".join(parts)
