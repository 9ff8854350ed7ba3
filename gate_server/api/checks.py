"""/api/v1/checks: run a check (the Action's call), read one, list a service's checks."""

from __future__ import annotations

import time
from typing import Optional

from flask import Blueprint, current_app, jsonify, request, url_for

from gate_server import app_database
from gate_server.api import metrics
from gate_server.api.auth import READ_SCOPES, authorize_service, require_token, requested_services
from gate_server.api.check_body import CheckBody, parse_check_body
from gate_server.api.parsing import idempotency_key, int_arg, json_object
from gate_server.services import checks, decisions

bp = Blueprint("checks", __name__, url_prefix="/api/v1/checks")


def _base_url() -> str:
    # Only the configured URL: the Host header is the client's to choose, and these links
    # are stored and sent on (webhooks, commit statuses). Without one, links are paths.
    return current_app.config["GATE_SETTINGS"].public_url


@bp.post("")
@require_token()
def create_check():
    checked, document = judge(parse_check_body(json_object()), idempotency_key())
    response = jsonify(document)
    # 201: a check was stored; 200: a repeated Idempotency-Key, its check judged again.
    response.status_code = 200 if checked.idempotent_replay else 201
    response.headers["Location"] = checked.api_url
    return response


def judge(body: CheckBody, key: Optional[str]) -> tuple[checks.CheckedVerdict, dict]:
    """Run and store the check `body` asks for, as the caller (the Action's call, and Flagger's)."""
    authorize_service(body.service)
    check_request = checks.CheckRequest(
        service=body.service, baseline_version=body.baseline_version, canary_version=body.canary_version,
        stage=body.stage, config=checks.parse_config(body.config), idempotency_key=key,
    )
    started = time.perf_counter()
    checked = checks.run_check(app_database.session(), check_request, current_app.config["GATE_SETTINGS"],
                               base_url=_base_url(), cache=app_database.profile_cache())
    metrics.observe_check(body.service, checked.verdict, checked.score, time.perf_counter() - started)
    # A poll (same Idempotency-Key) learns of a person's decision on its check here.
    return checked, decisions.with_decisions(app_database.session(), checked.id, checked.to_dict())


@bp.get("/<int:check_id>")  # past a BIGINT, a 404 (parsing.BigintConverter)
@require_token(READ_SCOPES)
def get_check(check_id: int):
    session = app_database.session()
    service, document = checks.get_check(session, check_id)
    authorize_service(service)
    return jsonify(decisions.with_decisions(session, check_id, document))


@bp.get("")
@require_token(READ_SCOPES)
def list_checks():
    service = request.args.get("service")
    services = requested_services()
    limit = int_arg("limit", checks.DEFAULT_PAGE_SIZE, maximum=checks.MAX_PAGE_SIZE)
    before = int_arg("before")
    items = checks.list_checks(app_database.session(), services=services, limit=limit, before=before)
    page = {"checks": items, "next": None}
    if len(items) == min(limit, checks.MAX_PAGE_SIZE):
        args = {k: v for k, v in {"service": service, "limit": limit}.items() if v}
        page["next"] = url_for("checks.list_checks", before=items[-1]["id"], **args)
    return jsonify(page)
