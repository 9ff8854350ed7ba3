"""/api/v1/recordings and /api/v1/windows: the probe's uploads over HTTP, for hosts that
hold an `ingest` token instead of database credentials. Keyed by the probe's own
recording uuid and window index, so replaying a spooled upload stores it once. A batch
(POST /api/v1/windows) carries many windows of many recordings in one request and one
transaction: what a fleet's ingest rate needs."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, jsonify, request

from gate_server import app_database
from gate_server.api.auth import current_identity, require_token
from gate_server.api.compressed_bodies import inflated_body
from gate_server.api.parsing import json_object
from gate_server.services import ingest

bp = Blueprint("ingest", __name__, url_prefix="/api/v1")

INGEST_SCOPES = ("ingest", "admin")


def _upload() -> dict:
    # a window is bigger than any other request: its own limit, read before the body
    max_bytes = current_app.config["GATE_SETTINGS"].max_ingest_bytes
    request.max_content_length = max_bytes
    return json_object(inflated_body(max_bytes))


def _stored(created: bool, document: dict):
    response = jsonify({**document, "created": created})
    response.status_code = 201 if created else 200
    return response


@bp.put("/recordings/<recording_uuid>")
@require_token(INGEST_SCOPES)
def put_recording(recording_uuid: str):
    created = ingest.put_recording(app_database.engine(), current_identity(), recording_uuid, _upload())
    return _stored(created, {"recording": recording_uuid})


@bp.put("/recordings/<recording_uuid>/windows/<int:index>")
@require_token(INGEST_SCOPES)
def put_window(recording_uuid: str, index: int):
    created = ingest.put_window(app_database.engine(), current_identity(), recording_uuid, index, _upload(), _caps())
    return _stored(created, {"recording": recording_uuid, "index": index})


@bp.post("/windows")
@require_token(INGEST_SCOPES)
def post_windows():
    settings = current_app.config["GATE_SETTINGS"]
    created = ingest.put_windows(app_database.engine(), current_identity(), _upload(), _caps(),
                                 settings.max_batch_windows)
    response = jsonify({"created": created, "stored": len(created), "new": sum(created)})
    response.status_code = 201 if any(created) else 200
    return response


def _caps() -> ingest.WindowCaps:
    settings = current_app.config["GATE_SETTINGS"]
    return ingest.WindowCaps(features=settings.max_window_features, drops=settings.max_window_drops,
                             max_age=timedelta(hours=settings.ingest_max_window_age_hours),
                             steady_windows=settings.max_steady_windows_per_host)
