"""A stand-in OpenID Connect issuer, as GitHub Actions' (token.actions.githubusercontent.com)
is to a relying party: a discovery document naming its JWKS, the JWKS, and RS256 tokens
carrying GitHub's claims (repository, workflow_ref, sub), minted with PyJWT; and, as a
runner's ACTIONS_ID_TOKEN_REQUEST_URL, the job's token for an audience."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from gate_server.storage import migrate
from tests.server.conftest import seed
from tests.support.live_server import LiveServer
from tests.support.ports import free_port


def new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Issuer:
    def __init__(self, repository: str = "acme/web", request_token: str = "runner-request-token"):
        self.key, self.kid = new_key(), "key-1"
        # As a runner's token service: GET /token?audience=A with the job's request token.
        self.repository, self.request_token = repository, request_token
        self.url = f"http://127.0.0.1:{free_port()}"
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/.well-known/jwks"}
                elif self.path.startswith("/token?"):
                    if self.headers.get("Authorization") != f"bearer {issuer.request_token}":
                        self.send_error(401)
                        return
                    audience = parse_qs(urlsplit(self.path).query)["audience"][0]
                    body = {"value": issuer.mint(issuer.repository, audience=audience)}
                elif self.path == "/.well-known/jwks":
                    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(issuer.key.public_key()))
                    body = {"keys": [{**jwk, "kid": issuer.kid, "use": "sig", "alg": "RS256"}]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", int(self.url.rsplit(":", 1)[1])), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def mint(self, repository: str, *, audience: str = "syscall-gate", lifetime: int = 300, key=None,
             issuer: str | None = None) -> str:
        now = int(time.time())
        claims = {"iss": issuer or self.url, "aud": audience, "iat": now, "nbf": now, "exp": now + lifetime,
                  "repository": repository, "sub": f"repo:{repository}:ref:refs/heads/main",
                  "workflow_ref": f"{repository}/.github/workflows/deploy.yml@refs/heads/main"}
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": self.kid})

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# Fixtures of the tests that use the issuer (imported by name into their modules).
@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    standin = Issuer(repository="acme/web")
    yield standin
    standin.close()


@pytest.fixture(scope="module")
def oidc_gate(issuer, tmp_path_factory) -> Iterator[LiveServer]:
    """The real server on a seeded SQLite database, accepting the issuer's tokens from acme/web for web."""
    database_url = f"sqlite:///{tmp_path_factory.mktemp('oidc') / 'gate.db'}"
    migrate.upgrade(database_url)
    seed(database_url)
    with LiveServer(database_url, workers=1,
                    env={"GATE_OIDC_ISSUER": issuer.url, "GATE_OIDC_REPOSITORIES": "acme/web=web"}) as server:
        yield server
