"""Dashboard pages. Thin views: check the session's token, call the domain, render a template."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Optional
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for

from gate_server.analysis.entries import entries, group_rows, ungrouped_anomalies, walk_groups
from gate_server import app_database
from gate_server.analysis.suppressions import literal_pattern
from gate_server.dashboard import identity
from gate_server.dashboard.chart import build_chart, format_rate
from gate_server.dashboard.secret import session_secret
from gate_server.services import audit, baselines, catalog, checks, decisions, suppressions
from gate_server.services.errors import DomainError
from gate_server.services.tokens import ALL_SERVICES

bp = Blueprint("dashboard", __name__, template_folder="templates", static_folder="static",
               static_url_path="/dashboard/static")

PUBLIC_ENDPOINTS = {"dashboard.login", "dashboard.static"}
CHECKS_PER_PAGE = 50
DECIDED = {"approve": "Approved", "reject": "Rejected"}
# A dashboard session lasts a working day; the token itself is re-checked on every page.
SESSION_LIFETIME = timedelta(hours=12)
SECURITY_HEADERS = {
    # Server-rendered, no scripts at all: forbid them outright.
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@bp.record_once
def _configure(state) -> None:
    app = state.app
    settings = app.config["GATE_SETTINGS"]
    # All gunicorn workers must sign with one key, or a login works on one worker only.
    app.secret_key = session_secret(settings)
    app.config.update(
        SESSION_COOKIE_NAME="syscall_gate_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=settings.public_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
    )
    app.jinja_env.filters.setdefault("when", _when)
    app.jinja_env.filters.setdefault("rate", lambda v: format_rate(float(v or 0)))
    app.jinja_env.filters.setdefault("percent", lambda v: f"{float(v or 0) * 100:.2f}%")
    app.jinja_env.filters.setdefault("thousands", lambda v: f"{int(v or 0):,}")
    app.jinja_env.filters.setdefault("decided", lambda decision: DECIDED.get(decision, decision))
    # The acknowledgement form's pre-filled pattern: the key escaped, matching it alone.
    app.jinja_env.filters.setdefault("literal_pattern", lambda anomaly: literal_pattern(anomaly["kind"], anomaly["key"]))


def _when(value: Any) -> str:
    if value in (None, ""):
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if value.tzinfo is None:  # SQLite drops the zone; everything is stored in UTC
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


@bp.before_request
def _require_login():
    if request.method == "POST" and not _same_origin():
        abort(403, "cross-site form submission refused")
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    g.viewer = identity.current()
    if g.viewer is None:
        return redirect(url_for("dashboard.login", next=request.full_path.rstrip("?")))
    return None


@bp.after_request
def _headers(response):
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _same_origin() -> bool:
    origin = request.headers.get("Origin")
    if not origin:
        return True  # SameSite=Strict already keeps the cookie off cross-site posts
    # "null" (a sandboxed frame, a data: page) is no origin of ours: at /login it would let
    # another site log a visitor in with the other site's token (login CSRF)
    allowed = {request.host_url.rstrip("/"), current_app.config["GATE_SETTINGS"].public_url}
    return origin.rstrip("/") in allowed


def _visible() -> Optional[list[str]]:
    viewer = g.viewer
    return None if viewer.is_admin or ALL_SERVICES in viewer.services else list(viewer.services)


def _authorize(service: str) -> None:
    if not g.viewer.may_access(service):
        abort(403, f"Your token does not cover service '{service}'.")


def _requested_services() -> tuple[Optional[str], Optional[list[str]]]:
    """(the ?service= filter, the services to show): that one, or every one the viewer may see."""
    wanted = request.args.get("service") or None
    if wanted:
        _authorize(wanted)
        return wanted, [wanted]
    return None, _visible()


def _safe_next(target: Optional[str]) -> str:
    parts = urlsplit(target or "")
    if target and target.startswith("/") and not target.startswith("//") and not parts.netloc:
        return target
    return url_for("dashboard.overview")


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    next_url = _safe_next(request.values.get("next"))
    if request.method == "POST":
        try:
            identity.log_in(request.form.get("token", ""))
        except identity.LoginRefused as exc:
            error = str(exc)
        else:
            return redirect(next_url)
    return render_template("dashboard/login.html", error=error, next_url=next_url), (401 if error else 200)


@bp.post("/logout")
def logout():
    identity.log_out()
    return redirect(url_for("dashboard.login"))


@bp.get("/")
def overview():
    session = app_database.session()
    return render_template(
        "dashboard/overview.html",
        services=catalog.list_services(session, _visible()),
        recent_checks=checks.list_checks(session, services=_visible(), limit=10),
    )


@bp.get("/services/<name>")
def service(name: str):
    _authorize(name)
    session = app_database.session()
    return render_template(
        "dashboard/service.html", service=name,
        versions=catalog.versions_summary(session, name),
        recordings=catalog.recordings_by_version(session, name),
        recent_checks=checks.list_checks(session, services=[name], limit=20),
        baseline=baselines.stability(session, name),
    )


@bp.get("/checks")
def check_list():
    wanted, services = _requested_services()
    before = request.args.get("before", type=int)
    rows = checks.list_checks(app_database.session(), services=services, limit=CHECKS_PER_PAGE, before=before)
    next_before = rows[-1]["id"] if len(rows) == CHECKS_PER_PAGE else None
    return render_template("dashboard/checks.html", checks=rows, service=wanted, next_before=next_before)


@bp.get("/checks/<int:check_id>")
def check(check_id: int):
    return _check_page(check_id)


def _check_page(check_id: int, error: Optional[str] = None, status: int = 200):
    session = app_database.session()
    service_name, document = checks.get_check(session, check_id)
    _authorize(service_name)
    document = decisions.with_decisions(session, check_id, document)
    acknowledged = {(a["kind"], a["key"]): a for a in document["acknowledgements"]}
    everything = document.get("anomalies") or []
    lineage = [(depth, group, group_rows(group, everything))
               for depth, group in walk_groups(document.get("groups") or [])]
    return render_template("dashboard/check.html", check=document, chart=build_chart(document), error=error,
                           lineage=lineage, ungrouped=ungrouped_anomalies(document),
                           entry_count=len(entries(document)),
                           acknowledged=acknowledged, may_decide=identity.may_decide(g.viewer, service_name),
                           decidable=document["verdict"] in decisions.DECIDABLE_VERDICTS), status


def _require_decide(service: str) -> None:
    _authorize(service)
    if not identity.may_decide(g.viewer, service):
        abort(403, "Deciding needs a token with scope 'decide' (or 'admin') for this service.")


@bp.post("/checks/<int:check_id>/decision")
def decide(check_id: int):
    session = app_database.session()
    _require_decide(decisions.check_service(session, check_id))
    try:
        made = decisions.decide(session, check_id, decision=request.form.get("decision"),
                                reason=request.form.get("reason"), actor=audit.person_of(g.viewer))
    except DomainError as exc:
        # An error page's status (4xx) makes app_database roll the request's transaction back.
        return _check_page(check_id, error=exc.message, status=exc.status)
    flash(f"{DECIDED[made['decision']]} by {made['by']}.")
    return redirect(url_for("dashboard.check", check_id=check_id))


@bp.post("/checks/<int:check_id>/acknowledge")
def acknowledge(check_id: int):
    session = app_database.session()
    _require_decide(decisions.check_service(session, check_id))
    form = request.form
    suppress = {"pattern": form.get("pattern", ""), "expires": form.get("expires", "")} if form.get("suppress") else None
    try:
        made = decisions.acknowledge(session, check_id, form.get("key", ""), kind=form.get("kind") or None,
                                     reason=form.get("reason"), suppress=suppress, actor=audit.person_of(g.viewer),
                                     limits=suppressions.SuppressionLimits.from_settings(current_app.config["GATE_SETTINGS"]))
    except DomainError as exc:
        return _check_page(check_id, error=exc.message, status=exc.status)
    flash(f"Acknowledged {made['kind']} {made['key']}" +
          (f"; suppressed until {made['suppression']['expires']}." if made["suppression"] else "."))
    return redirect(url_for("dashboard.check", check_id=check_id))


@bp.get("/services/<name>/suppressions")
def suppression_list(name: str):
    _authorize(name)
    return render_template("dashboard/suppressions.html", service=name,
                           suppressions=suppressions.list_for(app_database.session(), name),
                           may_decide=identity.may_decide(g.viewer, name))


@bp.post("/suppressions/<int:suppression_id>/revoke")
def revoke_suppression(suppression_id: int):
    session = app_database.session()
    service_name = suppressions.service_of(session, suppression_id)
    _require_decide(service_name)
    revoked = suppressions.revoke(session, suppression_id, actor=audit.person_of(g.viewer),
                                  reason=request.form.get("reason", ""))
    flash(f"Suppression {revoked['id']} ({revoked['kind']} {revoked['pattern']}) revoked.")
    return redirect(url_for("dashboard.suppression_list", name=service_name))


@bp.get("/audit")
def audit_log():
    wanted, services = _requested_services()
    return render_template("dashboard/audit.html", service=wanted,
                           entries=audit.entries(app_database.session(), services=services))


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError):
    return _error_page(exc.status, exc.message)


@bp.errorhandler(403)
def _forbidden(exc):
    return _error_page(403, exc.description)


@bp.errorhandler(404)
def _not_found(exc):
    return _error_page(404, "No such page.")


def _error_page(status: int, message: str):
    titles = {403: "Not allowed", 404: "Not found"}
    return render_template("dashboard/error.html", status=status, title=titles.get(status, "Error"),
                           message=message), status
