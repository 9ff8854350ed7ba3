"""/api/v1/services: what has been recorded, per service and version."""

from __future__ import annotations

from flask import Blueprint, jsonify

from gate_server import app_database
from gate_server.api.auth import READ_SCOPES, authorize_service, require_token, visible_services
from gate_server.services import baselines, catalog

bp = Blueprint("services", __name__, url_prefix="/api/v1/services")


@bp.get("")
@require_token(READ_SCOPES)
def list_services():
    return jsonify({"services": catalog.list_services(app_database.session(), visible_services())})


@bp.get("/<name>/versions")
@require_token(READ_SCOPES)
def list_versions(name: str):
    authorize_service(name)
    return jsonify({"service": name, "versions": catalog.versions_summary(app_database.session(), name)})


@bp.get("/<name>")
@require_token(READ_SCOPES)
def show_service(name: str):
    authorize_service(name)
    session = app_database.session()
    return jsonify({"service": name, "versions": catalog.versions_summary(session, name),
                    "baseline": baselines.stability(session, name)})
