"""Bearer-token authentication and service scoping for the API views."""

from __future__ import annotations

from functools import wraps
from typing import Callable

from flask import current_app, g, request

from gate_server import app_database
from gate_server.api.errors import ApiError
from gate_server.services import oidc
from gate_server.services.tokens import ALL_SERVICES, TokenIdentity, verify_token

# Which token scopes may call a view: reading and checking need `check` (or `admin`);
# `ingest` tokens are for the probe's uploads only.
CHECK_SCOPES = ("check", "admin")
# A person who decides (approve, reject, acknowledge, suppress, promote) reads what they decide on.
DECIDE_SCOPES = ("decide", "admin")
READ_SCOPES = ("check", "decide", "admin")


def _presented_secret() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if not header:
        raise ApiError(401, "missing bearer token: send Authorization: Bearer <token> "
                            "(create one with: gate-server tokens create)")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError(401, "malformed Authorization header: expected 'Bearer <token>'")
    return secret.strip()


def authenticate(secret: str | None = None) -> TokenIdentity:
    """The identity of `secret` (default: the request's bearer token); 401 if it names none."""
    secret = _presented_secret() if secret is None else secret
    if oidc.looks_like_jwt(secret):
        return _oidc_identity(secret)
    # last_used_at (when it changed) in a transaction of its own: on SQLite, a write held
    # open through the view's work would keep every other writer waiting.
    with app_database.transaction() as session:
        identity = verify_token(session, secret)
    if identity is None:
        raise ApiError(401, "invalid or revoked token")
    return identity


def require_token(scopes: tuple[str, ...] = CHECK_SCOPES) -> Callable:
    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            admit(authenticate(), scopes)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def _oidc_identity(secret: str) -> TokenIdentity:
    try:
        identity = oidc.identity_of(secret, current_app.config["GATE_SETTINGS"])
    except oidc.OidcRefused as exc:
        raise ApiError(403, str(exc)) from None
    if identity is None:
        raise ApiError(401, "invalid OIDC token: not signed by the configured issuer for this gate's audience, "
                            "or expired (or the gate accepts no OIDC tokens: GATE_OIDC_ISSUER is unset)")
    return identity


def admit(identity: TokenIdentity, scopes: tuple[str, ...] = CHECK_SCOPES) -> None:
    """403 unless the identity's scope is one of `scopes`; else it is the request's caller."""
    if identity.scope not in scopes:
        raise ApiError(403, f"a token with scope {identity.scope!r} may not call this endpoint; "
                            f"it needs scope {' or '.join(repr(s) for s in scopes)}")
    g.identity = identity


def current_identity() -> TokenIdentity:
    return g.identity


def authorize_service(service: str) -> None:
    """403 unless the caller's token covers `service` (checked before existence: no probing names)."""
    if not current_identity().may_access(service):
        raise ApiError(403, f"this token is not allowed to access service {service!r}", field="service")


def visible_services() -> list[str] | None:
    """The services the caller may see; None means all (admin or a '*' token)."""
    identity = current_identity()
    if identity.is_admin or ALL_SERVICES in identity.services:
        return None
    return list(identity.services)


def requested_services() -> list[str] | None:
    """The `service` query argument as a filter (403 if the token does not cover it), else
    every service the caller may see (None: all)."""
    service = request.args.get("service")
    if service:
        authorize_service(service)
        return [service]
    return visible_services()
