"""/api/v1/policy: the server's threshold floors and their audit trail (admin tokens only).

Each change is audited with the token's stable id (`token:<id>`) as the actor.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from gate_server import app_database
from gate_server.analysis.policy import GLOBAL
from gate_server.api.auth import current_identity, require_token
from gate_server.api.parsing import int_arg
from gate_server.api.request_bodies import FloorBody, parse_body
from gate_server.services import policy
from gate_server.services.audit import actor_of

bp = Blueprint("policy", __name__, url_prefix="/api/v1/policy")
ADMIN = ("admin",)


def _actor() -> str:
    return actor_of(current_identity())


@bp.get("")
@require_token(ADMIN)
def show_policy():
    service = request.args.get("service") or None
    return jsonify(policy.describe(app_database.session(), service, audit_limit=int_arg("audit_limit", 200)))


@bp.put("/floors/<field>")
@require_token(ADMIN)
def set_floor(field: str):
    body = parse_body(FloorBody)
    service = (body.service or "").strip() or GLOBAL
    session = app_database.session()
    old = policy.set_floor(session, field=field, value=body.value, actor=_actor(), service=service)
    return jsonify({"service": service or None, "field": field, "old_value": old, "value": body.value})


@bp.delete("/floors/<field>")
@require_token(ADMIN)
def unset_floor(field: str):
    service = request.args.get("service") or GLOBAL
    session = app_database.session()
    old = policy.unset_floor(session, field=field, actor=_actor(), service=service)
    return jsonify({"service": service or None, "field": field, "old_value": old, "value": None})
