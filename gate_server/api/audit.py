"""/api/v1/audit: the audit log of people's decisions, read-only, limited to the services
the token covers."""

from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, jsonify, request

from gate_server import app_database
from gate_server.api.auth import READ_SCOPES, require_token, requested_services
from gate_server.api.errors import ApiError
from gate_server.api.parsing import int_arg
from gate_server.services import audit

bp = Blueprint("audit", __name__, url_prefix="/api/v1/audit")


def _since() -> datetime | None:
    raw = request.args.get("since")
    if not raw:
        return None
    try:
        since = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"query parameter 'since' must be an ISO 8601 time such as 2026-11-27T00:00:00Z "
                            f"(got {raw!r})", field="since") from None
    if since.tzinfo is None:
        raise ApiError(400, "query parameter 'since' needs a time zone: add Z or an offset", field="since")
    try:
        # In UTC, as every time is stored: Postgres refuses offsets past 15:59 (the fuzz sent +22:58)
        return since.astimezone(timezone.utc)
    except OverflowError:
        raise ApiError(400, f"query parameter 'since' is out of range (got {raw!r})", field="since") from None


@bp.get("")
@require_token(READ_SCOPES)
def read_audit():
    entries = audit.entries(app_database.session(), services=requested_services(), since=_since(),
                            limit=int_arg("limit", audit.DEFAULT_LIMIT))
    return jsonify({"entries": entries})
