"""/api/v1/services/<service>/baseline: promote a version to the service's baseline (what
a check's `current` names) and read it with its stability."""

from __future__ import annotations

from flask import Blueprint, jsonify

from gate_server import app_database
from gate_server.api.auth import DECIDE_SCOPES, READ_SCOPES, authorize_service, current_identity, require_token
from gate_server.api.request_bodies import PromotionBody, parse_body
from gate_server.api.responses import created
from gate_server.services import baselines
from gate_server.services.audit import actor_of

bp = Blueprint("baselines", __name__, url_prefix="/api/v1/services")


@bp.post("/<service>/baseline")
@require_token(DECIDE_SCOPES)
def promote(service: str):
    authorize_service(service)
    body = parse_body(PromotionBody)
    session = app_database.session()
    promoted = baselines.promote(session, service, body.version, body.reason, actor_of(current_identity()))
    return created(promoted)


@bp.get("/<service>/baseline")
@require_token(READ_SCOPES)
def show(service: str):
    authorize_service(service)
    return jsonify({"service": service, "baseline": baselines.stability(app_database.session(), service)})
