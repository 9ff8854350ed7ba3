"""People's decisions through the API: approve or reject a check, acknowledge one of its
anomalies (optionally suppressing it), and a service's suppressions (list, create, revoke).

Deciding needs a `decide` (or `admin`) token covering the check's service; the token's
description is stored as who decided.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from werkzeug.routing import BaseConverter

from gate_server import app_database
from gate_server.api.auth import DECIDE_SCOPES, READ_SCOPES, authorize_service, current_identity, require_token
from gate_server.api.request_bodies import AcknowledgeBody, DecisionBody, SuppressionBody, parse_body
from gate_server.api.responses import created
from gate_server.services import decisions, suppressions
from gate_server.services.audit import actor_of

bp = Blueprint("decisions", __name__, url_prefix="/api/v1")


class AnomalyKeyConverter(BaseConverter):
    """An anomaly's key as the rest of the path: keys hold slashes and start with one
    (/etc/shadow:r), which the `path` converter refuses; URL-encoding them is fine too."""

    regex = ".+?"
    part_isolating = False


@bp.record_once
def _register_converter(state) -> None:
    state.app.url_map.converters.setdefault("anomalykey", AnomalyKeyConverter)


def _suppression_limits() -> suppressions.SuppressionLimits:
    return suppressions.SuppressionLimits.from_settings(current_app.config["GATE_SETTINGS"])


@bp.post("/checks/<int:check_id>/decision")
@require_token(DECIDE_SCOPES)
def decide(check_id: int):
    body = parse_body(DecisionBody)
    session = app_database.session()
    authorize_service(decisions.check_service(session, check_id))
    decision = decisions.decide(session, check_id, decision=body.decision, reason=body.reason,
                                actor=actor_of(current_identity()))
    return created(decision)


@bp.post("/checks/<int:check_id>/anomalies/<anomalykey:key>/acknowledge", merge_slashes=False)
@require_token(DECIDE_SCOPES)
def acknowledge(check_id: int, key: str):
    body = parse_body(AcknowledgeBody)
    session = app_database.session()
    authorize_service(decisions.check_service(session, check_id))
    acknowledged = decisions.acknowledge(session, check_id, key, reason=body.reason, kind=body.kind,
                                         suppress=body.suppress.model_dump() if body.suppress else None,
                                         actor=actor_of(current_identity()),
                                         limits=_suppression_limits())
    return created(acknowledged)


@bp.get("/services/<service>/suppressions")
@require_token(READ_SCOPES)
def list_suppressions(service: str):
    authorize_service(service)
    listed = suppressions.list_for(app_database.session(), service,
                                   include_ended=request.args.get("state") != "active")
    return jsonify({"service": service, "suppressions": listed})


@bp.post("/services/<service>/suppressions")
@require_token(DECIDE_SCOPES)
def create_suppression(service: str):
    authorize_service(service)
    body = parse_body(SuppressionBody)
    session = app_database.session()
    made = suppressions.create(session, service=service, kind=body.kind, pattern=body.pattern,
                               reason=body.reason, expires=body.expires, actor=actor_of(current_identity()),
                               limits=_suppression_limits())
    return created(made)


@bp.delete("/suppressions/<int:suppression_id>")
@require_token(DECIDE_SCOPES)
def revoke_suppression(suppression_id: int):
    session = app_database.session()
    authorize_service(suppressions.service_of(session, suppression_id))
    reason = request.args.get("reason", "")
    revoked = suppressions.revoke(session, suppression_id, actor=actor_of(current_identity()), reason=reason)
    return jsonify(revoked)
