"""The OpenAPI paths of people's decisions (api/decisions.py, audit.py, baselines.py),
merged into the document by api/openapi.py; their request bodies' schemas come from
api/request_bodies.py, their responses' from api/response_bodies.py."""

from __future__ import annotations

from typing import Any

from gate_server.api.openapi_parts import AUTHED, error_responses, json_response, ref

WHEN = {"type": "string", "format": "date-time"}


def _conflict(description: str) -> dict[str, Any]:
    return {"409": json_response(ref("Error"), description)}


CHECK_ID = {"name": "check_id", "in": "path", "required": True, "schema": {"type": "integer"}}
SERVICE = {"name": "service", "in": "path", "required": True, "schema": {"type": "string"}}


def _body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": ref(name)}}}


PATHS: dict[str, Any] = {
    "/api/v1/checks/{check_id}/decision": {"post": {
        "operationId": "decideCheck", "summary": "Approve or reject a paused, warned or inconclusive check (decide).",
        "parameters": [CHECK_ID], "requestBody": _body("DecisionRequest"),
        "responses": {"201": json_response(ref("Decision"), "Stored and audited."),
                      **error_responses(400, 404, 415, *AUTHED),
                      **_conflict("The check already has a decision, or it passed.")}}},
    "/api/v1/checks/{check_id}/anomalies/{key}/acknowledge": {"post": {
        "operationId": "acknowledgeAnomaly", "summary": "Acknowledge one anomaly of a check, optionally suppressing "
                                                        "it for the service (decide).",
        "parameters": [CHECK_ID, {"name": "key", "in": "path", "required": True, "schema": {"type": "string"},
                                  "description": "The anomaly's key, URL-encoded (it may hold slashes)."}],
        "requestBody": _body("AcknowledgeRequest"),
        "responses": {"201": json_response(ref("Acknowledgement"), "Stored and audited."),
                      **error_responses(400, 404, 415, *AUTHED)}}},
    "/api/v1/services/{service}/suppressions": {
        "get": {"operationId": "listSuppressions", "summary": "The service's suppressions, newest first.",
                "parameters": [SERVICE, {"name": "state", "in": "query", "schema": {"type": "string",
                                                                                     "enum": ["active"]},
                                         "description": "active: only those in force."}],
                "responses": {"200": json_response(ref("SuppressionList"), "Suppressions."),
                              **error_responses(404, *AUTHED)}},
        "post": {"operationId": "createSuppression", "summary": "Suppress anomalies matching a pattern (decide).",
                 "parameters": [SERVICE], "requestBody": _body("SuppressionRequest"),
                 "responses": {"201": json_response(ref("Suppression"), "Stored and audited."),
                               **error_responses(400, 404, 415, *AUTHED)}},
    },
    "/api/v1/suppressions/{suppression_id}": {"delete": {
        "operationId": "revokeSuppression", "summary": "Revoke a suppression now (decide).",
        "parameters": [{"name": "suppression_id", "in": "path", "required": True, "schema": {"type": "integer"}},
                       {"name": "reason", "in": "query", "schema": {"type": "string"}}],
        "responses": {"200": json_response(ref("Suppression"), "Revoked and audited."), **error_responses(404, *AUTHED),
                      **_conflict("Already revoked.")}}},
    "/api/v1/audit": {"get": {
        "operationId": "readAudit", "summary": "Decisions, acknowledgements, suppressions and promotions, "
                                               "newest first (read-only).",
        "parameters": [{"name": "service", "in": "query", "schema": {"type": "string"}},
                       {"name": "since", "in": "query", "schema": WHEN},
                       {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}}],
        "responses": {"200": json_response(ref("AuditLog"), "Entries."), **error_responses(400, *AUTHED)}}},
    "/api/v1/services/{service}/baseline": {
        "post": {"operationId": "promoteBaseline", "summary": "Promote a recorded version to the service's "
                                                               "baseline, named by `current` (decide).",
                 "parameters": [SERVICE], "requestBody": _body("PromotionRequest"),
                 "responses": {"201": json_response(ref("Promotion"), "Promoted and audited."),
                               **error_responses(400, 404, 415, *AUTHED)}},
        "get": {"operationId": "getBaseline", "summary": "The promoted baseline and its stability.",
                "parameters": [SERVICE],
                "responses": {"200": json_response(ref("ServiceBaseline"), "Baseline."),
                              **error_responses(404, *AUTHED)}},
    },
    "/api/v1/services/{name}": {"get": {
        "operationId": "getService", "summary": "A service: its versions and its baseline's stability.",
        "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": json_response(ref("Service"), "Service."), **error_responses(404, *AUTHED)}}},
}


def extend_verdict(schemas: dict[str, Any]) -> None:
    """A check as read (GET, or a poll) also carries its decision and acknowledgements."""
    verdict = schemas["Verdict"]["properties"]
    verdict["decision"] = {"oneOf": [{"type": "null"}, ref("Decision")],
                           "description": "A person's approve or reject; null: none yet."}
    verdict["acknowledgements"] = {"type": "array", "items": ref("CheckAcknowledgement")}
