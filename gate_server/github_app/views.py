"""POST /github/webhook: the App's webhook. It verifies the signature before it
reads anything, takes each signed delivery once (a replay is answered 200 and not
reviewed again), queues the review (reviewer.py) in the request's transaction and
answers GitHub at once (202); any gate server's job runner then reviews the deployment."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass

from flask import Blueprint, Flask, current_app, jsonify, request
from sqlalchemy.exc import IntegrityError

from gate_server import app_database
from gate_server.api.errors import ApiError
from gate_server.github_app.config import GitHubAppConfig, load_github_app_config
from gate_server.github_app.github_api import GitHubApp, parse_callback
from gate_server.github_app.reviewer import REVIEW_JOB, DeploymentRequest
from gate_server.github_app.signature import is_valid_signature
from gate_server.settings import Settings
from gate_server.storage import jobs
from gate_contract.models import GitHubDelivery
from gate_contract.models import GitHubDelivery

log = logging.getLogger(__name__)

bp = Blueprint("github_app", __name__, url_prefix="/github")
_EXTENSION = "gate_github_app"


@dataclass
class Receiver:
    config: GitHubAppConfig
    github: GitHubApp


def init_app(app: Flask, settings: Settings) -> Receiver:
    """Register the webhook when GATE_GITHUB_APP_CONFIG names a config; a broken one stops the start."""
    config = load_github_app_config(settings)
    receiver = app.extensions[_EXTENSION] = Receiver(config, GitHubApp(config.app_id, config.private_key,
                                                                       config.api_url))
    app.register_blueprint(bp)
    return receiver


def _field(payload: dict, *path: str):
    value = payload
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return value


@bp.post("/webhook")
def webhook():
    receiver: Receiver = current_app.extensions[_EXTENSION]
    body = request.get_data(cache=False)
    if not is_valid_signature(receiver.config.webhook_secret, body, request.headers.get("X-Hub-Signature-256", "")):
        raise ApiError(401, "invalid or missing X-Hub-Signature-256: the body is not signed with this App's "
                            "webhook secret")
    event = request.headers.get("X-GitHub-Event", "")
    if event == "ping":
        return jsonify({"ok": True, "event": "ping"})
    if event != "deployment_protection_rule":
        return jsonify({"ignored": f"event {event!r} is not handled"}), 202
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise ApiError(400, "the webhook body is not a JSON object")
    if payload.get("action") != "requested":
        return jsonify({"ignored": f"action {payload.get('action')!r} is not handled"}), 202
    deployment_request = _deployment_request(payload, receiver.config)
    if not _first_delivery(body):
        log.warning("a replayed delivery (X-GitHub-Delivery %r) of run %s was not reviewed again",
                    request.headers.get("X-GitHub-Delivery", ""), deployment_request.callback.run_id)
        return jsonify({"ignored": "this delivery was received before (a replay): not reviewed again"}), 200
    jobs.enqueue(app_database.session(), REVIEW_JOB, deployment_request.job_payload())
    rule = deployment_request.rule
    log.info("reviewing run %s of %s (%s) as %s", deployment_request.callback.run_id,
             deployment_request.callback.repository, deployment_request.environment, rule.service if rule else None)
    return jsonify({"accepted": True, "run_id": deployment_request.callback.run_id,
                    "environment": deployment_request.environment, "service": rule.service if rule else None,
                    "stage": rule.stage if rule else None}), 202


def _first_delivery(body: bytes) -> bool:
    """Record the signed body; False when it was recorded before. The body, not the
    X-GitHub-Delivery header, which the signature does not cover and a replayer may change."""
    session = app_database.session()
    try:
        # A savepoint: the delivery is committed with the review's job when the request ends.
        with session.begin_nested():
            session.add(GitHubDelivery(body_sha256=hashlib.sha256(body).hexdigest(),
                                       delivery_id=request.headers.get("X-GitHub-Delivery", "")[:100]))
    except IntegrityError:
        return False
    return True


def _deployment_request(payload: dict, config: GitHubAppConfig) -> DeploymentRequest:
    environment = payload.get("environment")
    repository = _field(payload, "repository", "full_name")
    installation_id = _field(payload, "installation", "id")
    if not isinstance(environment, str) or not isinstance(repository, str) or not isinstance(installation_id, int):
        raise ApiError(400, "a deployment_protection_rule payload needs environment, repository.full_name and "
                            "installation.id")
    try:
        callback = parse_callback(payload.get("deployment_callback_url"), config.api_url, repository)
    except ValueError as exc:
        raise ApiError(400, str(exc), field="deployment_callback_url") from None
    repository_id = _field(payload, "repository", "id")
    deployment_id = _field(payload, "deployment", "id")
    return DeploymentRequest(
        # No rule: the deployment is rejected with a comment naming the missing mapping (reviewer.py),
        # rather than left waiting for an answer that never comes.
        rule=config.rule_for(repository, environment), callback=callback, environment=environment, installation_id=installation_id,
        repository_id=repository_id if isinstance(repository_id, int) else None,
        sha=str(_field(payload, "deployment", "sha") or payload.get("sha") or ""),
        ref=str(_field(payload, "deployment", "ref") or payload.get("ref") or ""),
        deployment_id=deployment_id if isinstance(deployment_id, int) else 0,
    )
