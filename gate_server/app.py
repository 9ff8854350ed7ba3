"""The Flask application factory. Nothing happens at import time: `create_app()` builds it.

gunicorn runs `gate_server.app:create_app()` (see `gate-server serve`), one app per worker.
"""

from __future__ import annotations

import importlib
import logging
import secrets
from typing import Any, Mapping, Optional

from flask import Flask

from gate_server import app_database
from gate_server.api import errors, metrics, parsing
from gate_server.api.compressed_bodies import CompressedBodiesOnIngestOnly
from gate_server.github_app import views as github_app_views
from gate_server.notify.delivery import on_check_stored
from gate_server.services.checks import CHECK_LISTENERS
from gate_server.settings import Settings

# Modules that each define a blueprint `bp`, registered in this order. Add a resource
# (e.g. "gate_server.dashboard.views") by adding its module here.
BLUEPRINTS: list[str] = [
    "gate_server.api.health",
    "gate_server.api.metrics",
    "gate_server.api.openapi",
    "gate_server.api.checks",
    "gate_server.api.services",
    "gate_server.api.ingest",
    "gate_server.api.policy",
    "gate_server.api.decisions",
    "gate_server.api.baselines",
    "gate_server.api.audit",
    "gate_server.dashboard.views",
]


def create_app(config: Optional[Mapping[str, Any]] = None) -> Flask:
    """Build the app. `config` overrides Flask config keys; "GATE_SETTINGS" may carry a Settings."""
    config = dict(config or {})
    settings: Settings = config.pop("GATE_SETTINGS", None) or Settings.from_env()
    # No app-wide static folder: the dashboard blueprint serves its own assets.
    app = Flask(__name__, static_folder=None)
    app.config.from_mapping(
        GATE_SETTINGS=settings,
        # Flask turns a body over this size into 413 when the view reads it.
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        # Placeholder until the dashboard installs the key every worker shares (dashboard/secret.py).
        SECRET_KEY=settings.secret_key or secrets.token_hex(32),
    )
    app.config.update(config)
    app.json.sort_keys = False
    _use_gunicorn_logging(app)
    app_database.init_app(app, settings)
    errors.register(app)
    metrics.init_app(app)
    parsing.init_app(app)
    for module_name in BLUEPRINTS:
        app.register_blueprint(importlib.import_module(module_name).bp)
    # gzip bodies: the probe's uploads only, inflated by the ingest views after authentication
    app.wsgi_app = CompressedBodiesOnIngestOnly(app.wsgi_app)
    if settings.github_app_config:
        # The deployment protection rule's webhook, only where an App is configured.
        github_app_views.init_app(app, settings)
    # Webhooks on pause/warn, after a check is stored; once per process, however many apps.
    if on_check_stored not in CHECK_LISTENERS:
        CHECK_LISTENERS.append(on_check_stored)
    return app


def _use_gunicorn_logging(app: Flask) -> None:
    # Under gunicorn, send the app's log lines (e.g. a logged 500) to gunicorn's error log.
    gunicorn_logger = logging.getLogger("gunicorn.error")
    if gunicorn_logger.handlers:
        app.logger.handlers = gunicorn_logger.handlers
        app.logger.setLevel(gunicorn_logger.level)
