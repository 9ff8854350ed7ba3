"""Reading a JSON request body and query arguments, with errors that name the field."""

from __future__ import annotations

from typing import Any, Optional

from flask import request

from gate_server.api.errors import ApiError


def json_object() -> dict[str, Any]:
    """The request body as a JSON object: 415 if it is not JSON, 400 if it does not parse."""
    if not request.is_json:
        raise ApiError(415, "the request body must be JSON: send Content-Type: application/json")
    body = request.get_json(silent=True)  # reading the body raises 413 past MAX_CONTENT_LENGTH
    if body is None:
        raise ApiError(400, "the request body is not valid JSON")
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return body


def required_string(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        raise ApiError(400, f"missing required field {name!r}", field=name)
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, f"field {name!r} must be a non-empty string", field=name)
    if len(value) > 200:
        raise ApiError(400, f"field {name!r} is longer than 200 characters", field=name)
    return value.strip()


def optional_string(body: dict[str, Any], name: str, max_length: int = 100) -> str:
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > max_length:
        raise ApiError(400, f"field {name!r} must be a string of at most {max_length} characters", field=name)
    return value.strip()


IDEMPOTENCY_HEADER = "Idempotency-Key"
# The Action's key is <run id>:<attempt>:<service>:<stage>, URL-encoded; 512 leaves room for
# any ASCII service (200) and stage (100) name, and fits the column (storage/models.py).
MAX_IDEMPOTENCY_KEY = 512


def idempotency_key() -> Optional[str]:
    """The request's Idempotency-Key: None when absent; 400 naming the header when malformed."""
    raw = request.headers.get(IDEMPOTENCY_HEADER)
    if raw is None:
        return None
    if not raw or len(raw) > MAX_IDEMPOTENCY_KEY or not all("!" <= char <= "~" for char in raw):
        raise ApiError(400, f"header {IDEMPOTENCY_HEADER} must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII "
                            "characters (no spaces or control characters; URL-encode the rest)",
                       field=IDEMPOTENCY_HEADER)
    return raw


def int_arg(name: str, default: Optional[int] = None, minimum: int = 1) -> Optional[int]:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"query parameter {name!r} must be an integer", field=name) from None
    if value < minimum:
        raise ApiError(400, f"query parameter {name!r} must be at least {minimum}", field=name)
    return value
