"""Every error is JSON: {"error": "<one sentence>", "status": N, "field"?: "..."}.

No traceback ever reaches a client: unexpected exceptions are logged here and
answered with a generic 500.
"""

from __future__ import annotations

from typing import Optional

from flask import Flask, current_app, jsonify
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from gate_server.services.errors import DomainError
from gate_server.storage import failures
from gate_contract.engine import DatabaseError
from gate_server.storage.failures import Failure

# Clearer than werkzeug's HTML-minded descriptions, for the codes this API returns.
MESSAGES = {
    400: "the request is malformed",
    401: "authentication required: send Authorization: Bearer <token> (create one with gate-server tokens create)",
    403: "this token may not do that",
    404: "no such resource",
    405: "method not allowed on this path",
    413: "the request body is larger than the server accepts (GATE_MAX_REQUEST_BYTES; "
         "probe uploads: GATE_MAX_INGEST_BYTES)",
    415: "the request body must be JSON: send Content-Type: application/json",
    422: "the request is well-formed but invalid",
    500: "internal server error; the server logged the details",
    503: "database busy or unavailable; retry later",
}
# Seconds a client should wait after a 503: about as long as a restarting Postgres, or the
# server's lock timeout (app_database.LOCK_TIMEOUT_MS), keeps a request from passing.
RETRY_AFTER_SECONDS = 5
AUTH_CHALLENGE = 'Bearer realm="syscall-gate"'


class ApiError(Exception):
    """Raised by views for a client error with a specific message."""

    def __init__(self, status: int, message: str, field: Optional[str] = None, headers: Optional[dict] = None):
        super().__init__(message)
        self.status, self.message, self.field, self.headers = status, message, field, headers or {}


def error_response(status: int, message: Optional[str] = None, field: Optional[str] = None, headers=None):
    body = {"error": message or MESSAGES.get(status, "error"), "status": status}
    if field:
        body["field"] = field
    response = jsonify(body)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = AUTH_CHALLENGE
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _http_error(exc: HTTPException):
    headers = {}
    if exc.code == 405 and getattr(exc, "valid_methods", None):
        headers["Allow"] = ", ".join(exc.valid_methods)
    status = exc.code or 500
    return error_response(status, MESSAGES.get(status, exc.description), headers=headers)


def _api_error(exc: ApiError):
    return error_response(exc.status, exc.message, exc.field, exc.headers)


def _domain_error(exc: DomainError):
    return error_response(exc.status, exc.message, exc.field)


def database_error_response(exc: Exception):
    """The answer to a failed query or commit: 503 when it may pass later, else 409/422/500."""
    failure = failures.classify(exc)
    if failure is Failure.TRANSIENT:
        current_app.logger.warning("database busy or unavailable: %s", failures.reason(exc))
        return error_response(503, MESSAGES[503], headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    if failure is Failure.DEFECT:
        return _unexpected(exc)
    # Permanent: the transaction was rolled back, and the same request would fail the same way.
    current_app.logger.info("database refused a request (%s): %s", failure.value, failures.reason(exc))
    refusal = ("the database refused this request as it is (a constraint it holds)" if failure is Failure.CONFLICT
               else "the database cannot hold a value of this request")
    return error_response(409 if failure is Failure.CONFLICT else 422,
                          f"{refusal}: {failures.reason(exc)}; nothing of it was stored; "
                          "sending it again unchanged will fail again")


def _unexpected(exc: Exception):
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    current_app.logger.exception("unhandled error")
    return error_response(500)


def register(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(DatabaseError, database_error_response)
    app.register_error_handler(SQLAlchemyError, database_error_response)
    app.register_error_handler(Exception, _unexpected)
