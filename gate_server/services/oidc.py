"""GitHub Actions' OIDC tokens as check credentials: a workflow with `id-token: write` asks
GitHub for a short-lived JWT naming its repository, and the gate maps that repository to
the services the operator allows it (GATE_OIDC_REPOSITORIES), with the `check` scope only.
No long-lived gate token is stored in the repository's secrets.

The JWT is verified with PyJWT against the configured issuer's keys (its OpenID discovery
document names the JWKS): signature (RS256), issuer, audience, expiry. A token that fails
any of them names no identity (401); a repository without services is refused (403).
"""

from __future__ import annotations

import threading
from typing import Optional

import jwt
import requests

from gate_server.services.tokens import TokenIdentity
from gate_server.settings import Settings

SCOPE = "check"
# Tokens the gate makes start with sg_; a JWT is three base64url parts.
_JWT_PARTS = 3
_clients: dict[str, jwt.PyJWKClient] = {}
_clients_lock = threading.Lock()


class OidcRefused(Exception):
    """The token is a valid OIDC token whose repository may check no service."""


def looks_like_jwt(secret: str) -> bool:
    return not secret.startswith("sg_") and secret.count(".") == _JWT_PARTS - 1


def _jwks_client(issuer: str) -> jwt.PyJWKClient:
    # One client per issuer and process: PyJWKClient caches the keys and refetches them
    # when a token names a key id it has not seen (GitHub rotates its keys).
    with _clients_lock:
        client = _clients.get(issuer)
        if client is None:
            discovery = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10)
            discovery.raise_for_status()
            # No timeout argument: PyJWT 2.6 (Debian 12's, the floor in pyproject) has none.
            client = _clients[issuer] = jwt.PyJWKClient(discovery.json()["jwks_uri"])
        return client


def identity_of(secret: str, settings: Settings) -> Optional[TokenIdentity]:
    """The identity an OIDC token proves (None: not a valid token of the configured issuer)."""
    if not settings.oidc_issuer:
        return None
    try:
        key = _jwks_client(settings.oidc_issuer).get_signing_key_from_jwt(secret)
        claims = jwt.decode(secret, key.key, algorithms=["RS256"], audience=settings.oidc_audience,
                            issuer=settings.oidc_issuer, options={"require": ["exp", "iat", "iss", "aud"]})
    except (jwt.PyJWTError, requests.RequestException, KeyError, ValueError):
        return None
    repository = str(claims.get("repository", ""))
    services = settings.oidc_repositories.get(repository)
    if not services:
        raise OidcRefused(f"repository {repository!r} may check no service: the gate's GATE_OIDC_REPOSITORIES "
                          "does not name it")
    return TokenIdentity(token_id=0, prefix=f"oidc:{repository}", scope=SCOPE, services=services,
                         description=f"GitHub OIDC {repository} ({claims.get('workflow_ref', claims.get('sub', ''))})")
