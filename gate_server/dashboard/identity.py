"""Who is looking at the dashboard: a token pasted into the login form, remembered by id
in the signed session cookie (never the secret) and re-checked on every page, so
revoking the token ends its dashboard sessions too."""

from __future__ import annotations

from typing import Optional

from flask import session

from gate_server import app_database
from gate_server.services.tokens import TokenIdentity, active_identity, verify_token
from gate_server.services.tokens import TokenIdentity, verify_token

# Reading pages needs what reading the API needs; ingest tokens belong to probes.
DASHBOARD_SCOPES = ("check", "decide", "admin")
# Who may approve, reject, acknowledge, suppress and revoke on the pages (as through the API).
DECIDING_SCOPES = ("decide", "admin")
SESSION_KEY = "token_id"


class LoginRefused(Exception):
    pass


def log_in(secret: str) -> TokenIdentity:
    db_session = app_database.session()
    identity = verify_token(db_session, secret.strip()) if secret.strip() else None
    if identity is None:
        raise LoginRefused("That token is unknown or revoked.")
    if identity.scope not in DASHBOARD_SCOPES:
        raise LoginRefused(f"A token with scope '{identity.scope}' cannot open the dashboard; "
                           "use a check, decide or admin token.")
    session.clear()
    session.permanent = True
    session[SESSION_KEY] = identity.token_id
    return identity


def current() -> Optional[TokenIdentity]:
    token_id = session.get(SESSION_KEY)
    if not isinstance(token_id, int):
        return None
    identity = active_identity(app_database.session(), token_id)
    if identity is None or identity.scope not in DASHBOARD_SCOPES:
        session.clear()
        return None
    return identity


def may_decide(viewer: TokenIdentity, service: str) -> bool:
    return viewer.scope in DECIDING_SCOPES and viewer.may_access(service)


def log_out() -> None:
    session.clear()
