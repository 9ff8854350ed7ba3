"""Building blocks of the OpenAPI document, shared by api/openapi.py and the modules that
describe a group of paths (api/openapi_decisions.py)."""

from __future__ import annotations

from typing import Any


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_response(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error_responses(*codes: int) -> dict[str, Any]:
    reasons = {
        400: "Malformed JSON, a missing, mistyped or out-of-range field (named in `field`).",
        401: "Missing, malformed, invalid or revoked bearer token (with a WWW-Authenticate header).",
        403: "The token's scope or services do not cover this request.",
        404: "Unknown service, check, recording or policy floor.",
        405: "Method not allowed on this path.",
        409: "The request contradicts what is stored (kept as it is): an upload, or an Idempotency-Key "
             "that names a check of other versions or stage.",
        413: "Body larger than GATE_MAX_REQUEST_BYTES (uploads: GATE_MAX_INGEST_BYTES).",
        415: "Body is not application/json.",
        422: "The threshold config is invalid; `field` is the path of the bad value.",
        500: "Unexpected server error (details only in the server log).",
        503: "Database unavailable.",
    }
    return {str(code): json_response(ref("Error"), reasons[code]) for code in codes}


AUTHED = (401, 403, 500, 503)
