"""The OpenAPI 3.1 document of the API (no token needed to read it).

The records, every request body, the verdict and every other response body are described
by their models' own JSON schemas (gate_contract/records.py, api/check_body.py,
api/request_bodies.py, api/response_bodies.py, analysis/verdict.py, services/checks.py),
so the document cannot drift from what is validated and returned; the paths are written
here and in openapi_decisions.py, and tests compare the paths with the app's routes, the
schemas with the models, and real answers of the server with the document.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from pydantic import BaseModel

from gate_server.analysis.config import GateConfig
from gate_server.analysis.policy import FLOORS
from gate_server.api import openapi_decisions
from gate_server.api.check_body import CheckBody
from gate_server.api.request_bodies import SCHEMA_NAMES
from gate_server.api.response_bodies import RESPONSE_MODELS
# Their short private names kept: every path below is written with them.
from gate_server.api.openapi_parts import AUTHED, error_responses as _errors, json_response as _json, ref as _ref
from gate_server.services.checks import CheckedVerdict
from gate_contract.records import MAX_BIGINT, RecordingInfo, WindowRecord

bp = Blueprint("openapi", __name__)


REF_TEMPLATE = "#/components/schemas/{model}"


def _model_schema(schemas: dict[str, Any], name: str, model: type[BaseModel], mode: str) -> dict[str, Any]:
    """The model's JSON schema under `name`, the models it refers to beside it."""
    schema = model.model_json_schema(mode=mode, ref_template=REF_TEMPLATE)  # type: ignore[arg-type]
    for referred, referred_schema in {**schema.pop("$defs", {}), name: schema}.items():
        if schemas.get(referred, referred_schema) != referred_schema:
            raise ValueError(f"two models are named {referred} in the OpenAPI document")
        schemas[referred] = referred_schema
    return schema


def _upload(schemas: dict[str, Any], name: str, model: type[BaseModel], named_by_url: tuple[str, ...]) -> None:
    # The URL names the record; the body may repeat those fields, and then they must agree.
    schema = _model_schema(schemas, name, model, "validation")
    schema["required"] = [field for field in schema.get("required", []) if field not in named_by_url]
    for field in named_by_url:
        schema["properties"][field]["description"] = "If given, the same as in the URL."


def model_schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    _model_schema(schemas, "Verdict", CheckedVerdict, "serialization")
    _model_schema(schemas, "ThresholdConfig", GateConfig, "validation")
    request = _model_schema(schemas, "CheckRequest", CheckBody, "validation")
    request["properties"]["config"]["anyOf"][0] = _ref("ThresholdConfig")  # the judge's model validates it
    _upload(schemas, "RecordingUpload", RecordingInfo, ("uuid",))
    _upload(schemas, "WindowUpload", WindowRecord, ("recording_uuid", "index"))
    for name, model in SCHEMA_NAMES.items():
        _model_schema(schemas, name, model, "validation")
    schemas["WindowBatch"] = {
        "type": "object", "required": ["windows"], "additionalProperties": False,
        "properties": {"windows": {"type": "array", "minItems": 1, "items": _ref("BatchWindow"),
                                   "description": "At most GATE_MAX_BATCH_WINDOWS (default 1000); each "
                                                  "(recording_uuid, index) once."}}}
    _model_schema(schemas, "BatchWindow", WindowRecord, "validation")
    for model in RESPONSE_MODELS:
        _model_schema(schemas, model.__name__, model, "serialization")
    return schemas


PUBLIC: list[dict[str, list]] = [{}]  # security requirement meaning "no token"
FLOOR_FIELD = {"name": "field", "in": "path", "required": True, "schema": {"type": "string", "enum": list(FLOORS)}}

PATHS: dict[str, Any] = {
    "/api/v1/checks": {
        "post": {
            "operationId": "createCheck", "summary": "Judge the canary against the baseline and store the check.",
            "parameters": [{
                "name": "Idempotency-Key", "in": "header", "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": 512, "pattern": "^[!-~]+$"},
                "description": "One key per gate step (the Action: <run id>:<attempt>:<service>:<stage>, "
                               "URL-encoded). A repeat within GATE_IDEMPOTENCY_HOURS is judged again and updates "
                               "the check the key stored (200, idempotent_replay true) instead of storing another.",
            }],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("CheckRequest")}}},
            "responses": {"201": _json(_ref("Verdict"), "The verdict document (also stored)."),
                          "200": _json(_ref("Verdict"), "A repeated Idempotency-Key: its check, judged again "
                                                        "and updated (same id and created_at)."),
                          **_errors(400, 404, 409, 413, 415, 422, *AUTHED)},
        },
        "get": {
            "operationId": "listChecks", "summary": "Checks the token may see, newest first.",
            "parameters": [
                {"name": "service", "in": "query", "schema": {"type": "string"}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
                {"name": "before", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_BIGINT},
                 "description": "Return checks with an id below this (from `next`)."},
            ],
            "responses": {"200": _json(_ref("CheckPage"), "One page of checks."), **_errors(400, *AUTHED)},
        },
    },
    "/api/v1/checks/{check_id}": {
        "get": {
            "operationId": "getCheck", "summary": "One stored check.",
            "parameters": [{"name": "check_id", "in": "path", "required": True,
                            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_BIGINT}}],
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
            "operationId": "putRecording", "summary": "Store a probe's recording, or its end (ingest).",
            "parameters": [{"name": "recording_uuid", "in": "path", "required": True,
                            "schema": {"type": "string", "format": "uuid"}}],
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": _ref("RecordingUpload")}}},
            "responses": {"201": _json(_ref("Stored"), "Stored."), "200": _json(_ref("Stored"), "Updated."),
                          **_errors(400, 409, 413, 415, 422, *AUTHED)},
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
                          **_errors(400, 404, 409, 413, 415, 422, *AUTHED)},
        },
    },
    "/api/v1/flagger/webhook": {
        "post": {
            "operationId": "flaggerWebhook", "security": PUBLIC,
            "summary": "The check as a Flagger webhook: the verdict as the HTTP status Flagger decides by.",
            "description": "Flagger's payload; metadata carries token (a check token: Flagger sends no "
                           "Authorization header), baseline_version, canary_version, and optionally service "
                           "(default: the Canary's name), stage and config (YAML text). One check per rollout "
                           "(namespace, name, checksum). docs/progressive-delivery.md.",
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("FlaggerWebhook")}}},
            "responses": {"200": _json(_ref("Verdict"), "pass or warn: Flagger lets the canary advance."),
                          "412": _json(_ref("Verdict"), "pause: Flagger holds the canary (and counts a failed "
                                                        "check for pre-rollout and rollout hooks)."),
                          "425": _json(_ref("Verdict"), "inconclusive: too early to judge; Flagger calls "
                                                        "again at its next interval."),
                          **_errors(400, 404, 409, 413, 415, 422, *AUTHED)},
        },
    },
    "/api/v1/windows": {
        "post": {
            "operationId": "postWindows",
            "summary": "Store a batch of windows of stored recordings in one transaction (ingest); all or nothing.",
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("WindowBatch")}}},
            "responses": {"201": _json(_ref("StoredBatch"), "Stored; at least one window was new."),
                          "200": _json(_ref("StoredBatch"), "Every window was already stored; kept as it was."),
                          **_errors(400, 404, 409, 413, 415, 422, *AUTHED)},
        },
    },
    "/api/v1/policy": {
        "get": {
            "operationId": "getPolicy", "summary": "The threshold floors and their audit trail (admin).",
            "parameters": [{"name": "service", "in": "query", "schema": {"type": "string"},
                            "description": "Only the floors that hold for this service, and its audit trail."},
                           {"name": "audit_limit", "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_BIGINT}}],
            "responses": {"200": _json(_ref("Policy"), "Floors and audit trail."), **_errors(400, *AUTHED)},
        },
    },
    "/api/v1/policy/floors/{field}": {
        "put": {
            "operationId": "setPolicyFloor", "summary": "Set a floor (admin; audited).",
            "parameters": [FLOOR_FIELD],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("FloorRequest")}}},
            "responses": {"200": _json(_ref("FloorChange"), "Set."), **_errors(400, 415, 422, *AUTHED)},
        },
        "delete": {
            "operationId": "unsetPolicyFloor", "summary": "Remove a floor (admin; audited).",
            "parameters": [FLOOR_FIELD, {"name": "service", "in": "query", "schema": {"type": "string"}}],
            "responses": {"200": _json(_ref("FloorChange"), "Removed."), **_errors(404, *AUTHED)},
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


def _parameters_may_be_refused(paths: dict[str, Any]) -> dict[str, Any]:
    """Every operation that takes parameters or a body may answer 400 (api/parsing.py refuses a NUL
    byte or a lone surrogate in any of them before the view runs): say so in each."""
    for operations in paths.values():
        for operation in operations.values():
            if operation.get("parameters") or operation.get("requestBody"):
                operation["responses"].setdefault("400", _errors(400)["400"])
    return paths


def document() -> dict[str, Any]:
    schemas = model_schemas()
    openapi_decisions.extend_verdict(schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "syscall-gate gate server", "version": "1",
                 "description": "Judge a canary's kernel-boundary behaviour against its baseline. "
                                "Every error is JSON: {error, status, field?}."},
        "paths": _parameters_may_be_refused({**PATHS, **openapi_decisions.PATHS}),
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "Made by `gate-server tokens create`."}},
        },
        "security": [{"bearer": []}],
    }


@bp.get("/api/v1/openapi.json")
def openapi():
    return jsonify(document())
