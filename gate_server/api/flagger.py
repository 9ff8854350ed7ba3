"""POST /api/v1/flagger/webhook: the check as a Flagger webhook (docs/progressive-delivery.md).

Flagger decides by the HTTP status alone: 2xx lets the canary advance, anything else holds
it (and, for pre-rollout and rollout hooks, counts a failed check towards the Canary's
`threshold`, then rolls back). So the verdict becomes the status: pass and warn are 200,
pause is 412, inconclusive 425 (too early: Flagger calls again at its next interval). The
body is the verdict document either way, for Flagger's events and whoever reads them.

Flagger's payload is `{name, namespace, phase, checksum, metadata}`, metadata being the
webhook's own string map from the Canary spec. Flagger sends no custom header, so the
token travels in `metadata.token`; it is used to authenticate and never stored.
"""

from __future__ import annotations

from typing import Any, Optional

import yaml
from flask import Blueprint, jsonify
from pydantic import ValidationError

from gate_server import app_database
from gate_server.api.auth import CHECK_SCOPES, admit, authenticate
from gate_server.api.check_body import parse_check_body
from gate_server.api.checks import judge
from gate_server.api.errors import ApiError
from gate_server.api.parsing import MAX_IDEMPOTENCY_KEY, json_object
from gate_server.api.request_bodies import FlaggerPayload

bp = Blueprint("flagger", __name__, url_prefix="/api/v1/flagger")

STATUS_BY_VERDICT = {"pass": 200, "warn": 200, "pause": 412, "inconclusive": 425}


def _payload() -> FlaggerPayload:
    try:
        return FlaggerPayload.model_validate(json_object())
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(part) for part in first["loc"])
        raise ApiError(400, f"field {field!r}: {first['msg']} (Flagger's webhook payload)", field=field) from None


def _config(text: Optional[str]) -> Optional[Any]:
    """metadata.config: the threshold config as YAML (or JSON) text, Flagger's metadata being strings."""
    if not text:
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ApiError(422, f"invalid config: metadata.config is not YAML ({str(exc).splitlines()[0]})",
                       field="config") from None


def _idempotency_key(payload: FlaggerPayload) -> Optional[str]:
    # One check per rollout of one Canary: Flagger's checksum names the pod template it rolls
    # out, so every iteration of the analysis judges that check again instead of adding one.
    if not payload.checksum:
        return None
    return f"flagger:{payload.namespace}/{payload.name}:{payload.checksum}"[:MAX_IDEMPOTENCY_KEY]


@bp.post("/webhook")
def webhook():
    payload = _payload()
    metadata = dict(payload.metadata)
    token = metadata.pop("token", "").strip()
    if not token:
        raise ApiError(401, "missing token: put a check token in the webhook's metadata.token "
                            "(Flagger sends no Authorization header)", field="metadata.token")
    admit(authenticate(token), CHECK_SCOPES)
    body = parse_check_body({
        "service": metadata.get("service") or payload.name,
        "baseline_version": metadata.get("baseline_version"),
        "canary_version": metadata.get("canary_version"),
        # Not the phase: one check per rollout (the key above), and a key names one stage.
        "stage": metadata.get("stage") or "flagger",
        "config": _config(metadata.get("config")),
    })
    checked, document = judge(body, _idempotency_key(payload))
    response = jsonify(document)
    response.status_code = STATUS_BY_VERDICT[checked.verdict]
    app_database.keep_work_of_an_error_answer()  # a pause is stored like any check
    response.headers["Location"] = checked.api_url
    return response
