"""Liveness and readiness: no token needed, so load balancers and orchestrators can probe."""

from __future__ import annotations

from flask import Blueprint, jsonify

from gate_server import app_database
from gate_server.api.errors import RETRY_AFTER_SECONDS, error_response
from gate_contract.engine import DatabaseError

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    try:
        app_database.ping()
    except DatabaseError:
        return error_response(503, "database unavailable; retry later",
                              headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    return jsonify({"status": "ready", "database": "ok"})
