"""The OpenAPI 3.1 document of the API, hand-written (no token needed to read it).

Kept next to the views it describes; a test compares its paths with the app's routes.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from gate_server.storage.keys import KINDS

bp = Blueprint("openapi", __name__)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    reasons = {
        400: "Malformed JSON, a missing, mistyped or out-of-range field (named in `field`).",
        401: "Missing, malformed, invalid or revoked bearer token (with a WWW-Authenticate header).",
        403: "The token's scope or services do not cover this request.",
        404: "Unknown service, check or recording.",
        405: "Method not allowed on this path.",
        409: "The upload contradicts what is stored (kept as it is).",
        413: "Body larger than GATE_MAX_REQUEST_BYTES (uploads: GATE_MAX_INGEST_BYTES).",
        415: "Body is not application/json.",
        422: "The threshold config is invalid; `field` is the path of the bad value.",
        500: "Unexpected server error (details only in the server log).",
        503: "Database unavailable.",
    }
    return {str(code): _json(_ref("Error"), reasons[code]) for code in codes}


AUTHED = (401, 403, 500, 503)
SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object", "required": ["error", "status"],
        "properties": {"error": {"type": "string", "description": "One sentence saying what is wrong."},
                       "status": {"type": "integer"},
                       "field": {"type": "string", "description": "The request field or config path at fault."}},
    },
    "CheckRequest": {
        "type": "object", "required": ["service", "baseline_version", "canary_version"],
        "properties": {
            "service": {"type": "string", "maxLength": 200},
            "baseline_version": {"type": "string", "maxLength": 200, "description": "The version in production."},
            "canary_version": {"type": "string", "maxLength": 200, "description": "The version being rolled out."},
            "stage": {"type": "string", "maxLength": 100, "description": "Rollout stage label, e.g. canary-10%."},
            "config": {"type": "object", "description": "The parsed YAML threshold config (docs/config.md)."},
        },
    },
    "Anomaly": {
        "type": "object", "required": ["kind", "key", "change", "severity", "reason"],
        "properties": {
            "kind": {"type": "string",
                     "enum": list(KINDS)},
            "key": {"type": "string"}, "change": {"type": "string", "enum": ["new", "missing", "rate"]},
            "severity": {"type": "string", "enum": ["low", "medium", "high", "critical"]},
            "baseline_rate": {"type": ["number", "null"]}, "canary_rate": {"type": ["number", "null"]},
            "reason": {"type": "string"},
        },
        "additionalProperties": True,
    },
    "Observation": {
        "type": "object",
        "properties": {side: {"type": "object", "properties": {
            "windows": {"type": "integer"}, "syscalls": {"type": "integer"}, "events": {"type": "integer"},
            "lost": {"type": "integer"}, "loss_ratio": {"type": "number"}, "sample_every": {"type": "number"},
        }, "additionalProperties": True} for side in ("baseline", "canary")},
    },
    "Verdict": {
        "type": "object",
        "required": ["id", "url", "api_url", "service", "baseline_version", "canary_version", "verdict", "score",
                     "anomalies", "observation", "thresholds", "reasons", "created_at"],
        "properties": {
            "id": {"type": "integer"}, "url": {"type": "string", "description": "Dashboard page of the check."},
            "api_url": {"type": "string"}, "service": {"type": "string"}, "baseline_version": {"type": "string"},
            "canary_version": {"type": "string"}, "stage": {"type": "string"},
            "verdict": {"type": "string", "enum": ["pass", "warn", "pause", "inconclusive"]},
            "score": {"type": "number", "minimum": 0, "maximum": 100},
            "anomalies": {"type": "array", "items": _ref("Anomaly")}, "observation": _ref("Observation"),
            "thresholds": {"type": "object", "description": "The config that was applied, defaults filled in."},
            "reasons": {"type": "array", "items": {"type": "string"},
                        "description": "Why inconclusive or why pause, in words."},
            "created_at": {"type": "string", "format": "date-time"},
        },
        "additionalProperties": True,
    },
    "CheckSummary": {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "service": {"type": "string"},
                       "baseline_version": {"type": "string"}, "canary_version": {"type": "string"},
                       "stage": {"type": "string"}, "verdict": {"type": "string"}, "score": {"type": "number"},
                       "created_at": {"type": "string", "format": "date-time"}, "url": {"type": "string"},
                       "api_url": {"type": "string"}},
    },
    "CheckPage": {
        "type": "object", "required": ["checks", "next"],
        "properties": {"checks": {"type": "array", "items": _ref("CheckSummary")},
                       "next": {"type": ["string", "null"], "description": "URL of the next (older) page."}},
    },
    "ServiceList": {
        "type": "object",
        "properties": {"services": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "versions": {"type": "integer"},
            "last_window_at": {"type": ["string", "null"], "format": "date-time"}}}}},
    },
    "VersionList": {
        "type": "object",
        "properties": {"service": {"type": "string"}, "versions": {"type": "array", "items": {
            "type": "object", "properties": {
                "version": {"type": "string"}, "recordings": {"type": "integer"},
                "roles": {"type": "array", "items": {"type": "string"}}, "windows": {"type": "integer"},
                "syscalls": {"type": "integer"}, "events": {"type": "integer"}, "lost": {"type": "integer"},
                "loss_ratio": {"type": "number"},
                "first_window_at": {"type": ["string", "null"], "format": "date-time"},
                "last_window_at": {"type": ["string", "null"], "format": "date-time"}}}}},
    },
    "RecordingUpload": {
        "type": "object", "required": ["service", "version", "started_at"], "additionalProperties": False,
        "properties": {
            "uuid": {"type": "string", "description": "If given, the uuid of the URL."},
            "service": {"type": "string", "maxLength": 200}, "version": {"type": "string", "maxLength": 200},
            "role": {"type": "string", "enum": ["baseline", "canary"]},
            "started_at": {"type": "string", "format": "date-time", "description": "With a UTC offset."},
            "ended_at": {"type": ["string", "null"], "format": "date-time"},
            "host": {"type": "string"}, "kernel": {"type": "string"}, "scope": {"type": "string"},
            "sample_every": {"type": "integer", "minimum": 1}, "rate_limit": {"type": ["integer", "null"]},
            "probe_version": {"type": "string"}, "events_seen": {"type": "integer", "minimum": 0},
            "drops": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0},
                      "description": "Events lost over the recording, by reason."},
        },
    },
    "WindowUpload": {
        "type": "object", "required": ["started_at", "ended_at"], "additionalProperties": False,
        "properties": {
            "recording_uuid": {"type": "string"}, "index": {"type": "integer"},
            "started_at": {"type": "string", "format": "date-time"},
            "ended_at": {"type": "string", "format": "date-time"},
            "syscalls_total": {"type": "integer", "minimum": 0}, "events_total": {"type": "integer", "minimum": 0},
            "sample_every": {"type": "integer", "minimum": 1},
            "drops": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
            "features": {"type": "array", "description": "[kind, normalised key, count], each pair once.",
                         "items": {"type": "array", "prefixItems": [
                             {"type": "string", "enum": list(KINDS)},
                             {"type": "string"}, {"type": "integer", "minimum": 0}], "minItems": 3, "maxItems": 3}},
        },
    },
    "Stored": {
        "type": "object", "required": ["recording", "created"],
        "properties": {"recording": {"type": "string"}, "index": {"type": "integer"},
                       "created": {"type": "boolean", "description": "false: it was stored already (a replay)."}},
    },
    "Status": {"type": "object", "properties": {"status": {"type": "string"}, "database": {"type": "string"}}},
}

PUBLIC: list[dict[str, list]] = [{}]  # security requirement meaning "no token"

PATHS: dict[str, Any] = {
    "/api/v1/checks": {
        "post": {
            "operationId": "createCheck", "summary": "Judge the canary against the baseline and store the check.",
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("CheckRequest")}}},
            "responses": {"201": _json(_ref("Verdict"), "The verdict document (also stored)."),
                          **_errors(400, 404, 413, 415, 422, *AUTHED)},
        },
        "get": {
            "operationId": "listChecks", "summary": "Checks the token may see, newest first.",
            "parameters": [
                {"name": "service", "in": "query", "schema": {"type": "string"}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
                {"name": "before", "in": "query", "schema": {"type": "integer"},
                 "description": "Return checks with an id below this (from `next`)."},
            ],
            "responses": {"200": _json(_ref("CheckPage"), "One page of checks."), **_errors(400, *AUTHED)},
        },
    },
    "/api/v1/checks/{check_id}": {
        "get": {
            "operationId": "getCheck", "summary": "One stored check.",
            "parameters": [{"name": "check_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
            "responses": {"200": _json(_ref("Verdict"), "The stored verdict document."), **_errors(404, *AUTHED)},
        },
    },
    "/api/v1/services": {
        "get": {"operationId": "listServices", "summary": "Services the token may see.",
                "responses": {"200": _json(_ref("ServiceList"), "Services."), **_errors(*AUTHED)}},
    },
    "/api/v1/services/{name}/versions": {
        "get": {
            "operationId": "listVersions", "summary": "Recordings, windows, syscalls and losses per version.",
            "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": _json(_ref("VersionList"), "Versions, newest first."), **_errors(404, *AUTHED)},
        },
    },
    "/api/v1/recordings/{recording_uuid}": {
        "put": {
            "operationId": "putRecording", "summary": "Store a probe's recording, or its end and totals (ingest).",
            "parameters": [{"name": "recording_uuid", "in": "path", "required": True,
                            "schema": {"type": "string", "format": "uuid"}}],
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": _ref("RecordingUpload")}}},
            "responses": {"201": _json(_ref("Stored"), "Stored."), "200": _json(_ref("Stored"), "Updated."),
                          **_errors(400, 409, 413, 415, *AUTHED)},
        },
    },
    "/api/v1/recordings/{recording_uuid}/windows/{index}": {
        "put": {
            "operationId": "putWindow", "summary": "Store one window of a stored recording (ingest).",
            "parameters": [{"name": "recording_uuid", "in": "path", "required": True,
                            "schema": {"type": "string", "format": "uuid"}},
                           {"name": "index", "in": "path", "required": True,
                            "schema": {"type": "integer", "minimum": 0}}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("WindowUpload")}}},
            "responses": {"201": _json(_ref("Stored"), "Stored."),
                          "200": _json(_ref("Stored"), "Already stored; kept as it was."),
                          **_errors(400, 404, 413, 415, *AUTHED)},
        },
    },
    "/healthz": {"get": {"operationId": "healthz", "summary": "The process is up.", "security": PUBLIC,
                         "responses": {"200": _json(_ref("Status"), "Up.")}}},
    "/readyz": {"get": {"operationId": "readyz", "summary": "The database is reachable.", "security": PUBLIC,
                        "responses": {"200": _json(_ref("Status"), "Ready."), **_errors(503)}}},
    "/metrics": {"get": {"operationId": "metrics", "summary": "Prometheus metrics.", "security": PUBLIC,
                         "responses": {"200": {"description": "Prometheus text exposition format.",
                                               "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
    "/api/v1/openapi.json": {"get": {"operationId": "openapi", "summary": "This document.", "security": PUBLIC,
                                     "responses": {"200": {"description": "OpenAPI 3.1 document.",
                                                           "content": {"application/json": {}}}}}},
}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "syscall-gate gate server", "version": "1",
                 "description": "Judge a canary's kernel-boundary behaviour against its baseline. "
                                "Every error is JSON: {error, status, field?}."},
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "Made by `gate-server tokens create`."}},
        },
        "security": [{"bearer": []}],
    }


@bp.get("/api/v1/openapi.json")
def openapi():
    return jsonify(document())
