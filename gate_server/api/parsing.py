"""Reading a JSON request body, path and query parameters, with errors that name the field."""

from __future__ import annotations

from typing import Any, Optional

from flask import Flask, request
from werkzeug.routing import IntegerConverter

from gate_server.api.errors import ApiError
from gate_server.api.json_body import decode_object, refuse_unstorable
from gate_contract.records import MAX_BIGINT


def json_object(body: Optional[bytes] = None) -> dict[str, Any]:
    """The request body (or `body`, the request's as the view read it) as a JSON object: 415
    if it is not JSON, 400 if it does not parse or holds what cannot be stored (json_body.py;
    the message names the field)."""
    if not request.is_json:
        raise ApiError(415, "the request body must be JSON: send Content-Type: application/json")
    # reading raises 413 past MAX_CONTENT_LENGTH
    return decode_object(request.get_data(cache=True) if body is None else body)


def refuse_unstorable_parameters() -> None:
    """Before every view: a path or query parameter holding a NUL byte (or a lone surrogate) is a 400 naming it."""
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str):
            refuse_unstorable(value, f"path parameter {name!r}", name)
    for name, value in request.args.items(multi=True):
        refuse_unstorable(name, "a query parameter's name", name)
        refuse_unstorable(value, f"query parameter {name!r}", name)


class BigintConverter(IntegerConverter):
    """Every <int:...> in a route: a number past a BIGINT names nothing stored, so the route does not
    match (404) instead of overflowing the database driver (SQLite's took 2^63 as a 500)."""

    def __init__(self, url_map, fixed_digits: int = 0, min: Optional[int] = None, max: Optional[int] = MAX_BIGINT,
                 signed: bool = False) -> None:
        super().__init__(url_map, fixed_digits, min, max, signed)


def init_app(app: Flask) -> None:
    """Before any blueprint is registered: the converter applies to the routes added after it."""
    app.url_map.converters["int"] = BigintConverter
    app.before_request(refuse_unstorable_parameters)


IDEMPOTENCY_HEADER = "Idempotency-Key"
# The Action's key is <run id>:<attempt>:<service>:<stage>, URL-encoded; 512 leaves room for
# any ASCII service (200) and stage (100) name, and fits the column (storage/models.py).
MAX_IDEMPOTENCY_KEY = 512


RESERVED_IDEMPOTENCY_PREFIX = "github-deployment:"


def idempotency_key() -> Optional[str]:
    """The request's Idempotency-Key: None when absent; 400 naming the header when malformed."""
    raw = request.headers.get(IDEMPOTENCY_HEADER)
    if raw is None:
        return None
    if not raw or len(raw) > MAX_IDEMPOTENCY_KEY or not all("!" <= char <= "~" for char in raw):
        raise ApiError(400, f"header {IDEMPOTENCY_HEADER} must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII "
                            "characters (no spaces or control characters; URL-encode the rest)",
                       field=IDEMPOTENCY_HEADER)
    if raw.startswith(RESERVED_IDEMPOTENCY_PREFIX):
        # The GitHub App's checks: a client writing one would set the verdict the App approves on.
        raise ApiError(400, f"header {IDEMPOTENCY_HEADER} may not start with {RESERVED_IDEMPOTENCY_PREFIX!r}: "
                            "those keys are the GitHub App's", field=IDEMPOTENCY_HEADER)
    return raw


def int_arg(name: str, default: Optional[int] = None, minimum: int = 1,
            maximum: int = MAX_BIGINT) -> Optional[int]:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"query parameter {name!r} must be an integer", field=name) from None
    if not minimum <= value <= maximum:
        raise ApiError(400, f"query parameter {name!r} must be between {minimum} and {maximum} (got {raw})",
                       field=name)
    return value
