"""People's decisions through the API: approve or reject a check, acknowledge one of its
anomalies (optionally suppressing it), and a service's suppressions (list, create, revoke).

Deciding needs a `decide` (or `admin`) token covering the check's service; the token's
description is stored as who decided.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from werkzeug.routing import BaseConverter

from gate_server import app_database
from gate_server.api.auth import DECIDE_SCOPES, READ_SCOPES, authorize_service, current_identity, require_token
from gate_server.api.errors import ApiError
from gate_server.api.parsing import json_object
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


@bp.post("/checks/<int:check_id>/decision")
@require_token(DECIDE_SCOPES)
def decide(check_id: int):
    body = json_object()
    session = app_database.session()
    authorize_service(decisions.check_service(session, check_id))
    decision = decisions.decide(session, check_id, decision=body.get("decision"), reason=body.get("reason"),
                                actor=actor_of(current_identity()))
    return created(decision)


@bp.post("/checks/<int:check_id>/anomalies/<anomalykey:key>/acknowledge", merge_slashes=False)
@require_token(DECIDE_SCOPES)
def acknowledge(check_id: int, key: str):
    body = json_object()
    kind = body.get("kind")
    if kind is not None and not isinstance(kind, str):
        raise ApiError(400, "'kind' must be a string such as \"exec\" or \"file\"", field="kind")
    session = app_database.session()
    authorize_service(decisions.check_service(session, check_id))
    acknowledged = decisions.acknowledge(session, check_id, key, reason=body.get("reason"), kind=kind,
                                         suppress=body.get("suppress"), actor=actor_of(current_identity()))
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
    body = json_object()
    for name in ("kind", "pattern", "reason"):
        if not isinstance(body.get(name), str):
            raise ApiError(400, f"missing or non-string field {name!r}", field=name)
    session = app_database.session()
    made = suppressions.create(session, service=service, kind=body["kind"], pattern=body["pattern"],
                               reason=body["reason"], expires=body.get("expires"), actor=actor_of(current_identity()))
    return created(made)


@bp.delete("/suppressions/<int:suppression_id>")
@require_token(DECIDE_SCOPES)
def revoke_suppression(suppression_id: int):
    session = app_database.session()
    authorize_service(suppressions.service_of(session, suppression_id))
    reason = request.args.get("reason", "")
    revoked = suppressions.revoke(session, suppression_id, actor=actor_of(current_identity()), reason=reason)
    return jsonify(revoked)
