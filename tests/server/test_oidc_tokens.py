"""A workflow's GitHub OIDC token checks the services its repository is allowed, and nothing
else: verified against the issuer's JWKS (a stand-in issuer, PyJWT), by the real server."""

from __future__ import annotations

import pytest
import requests

from tests.server.oidc_issuer import issuer, new_key, oidc_gate  # noqa: F401 -- fixtures


def check(gate, token: str, service: str = "web") -> requests.Response:
    return requests.post(f"{gate.url}/api/v1/checks", headers={"Authorization": f"Bearer {token}"}, timeout=30,
                         json={"service": service, "baseline_version": "v1", "canary_version": "v3-bad"})


def test_a_repositorys_oidc_token_checks_its_service(oidc_gate, issuer):
    response = check(oidc_gate, issuer.mint("acme/web"))
    assert response.status_code == 201, response.text
    assert response.json()["verdict"] == "pause"


def test_it_checks_no_other_service(oidc_gate, issuer):
    assert check(oidc_gate, issuer.mint("acme/web"), service="billing").status_code == 403


def test_a_repository_the_gate_does_not_name_is_refused(oidc_gate, issuer):
    refused = check(oidc_gate, issuer.mint("mallory/web"))
    assert refused.status_code == 403 and "mallory/web" in refused.json()["error"]


@pytest.mark.parametrize("forged", ["other audience", "expired", "other key", "other issuer"])
def test_a_token_not_made_for_this_gate_is_401(oidc_gate, issuer, forged):
    token = {
        "other audience": lambda: issuer.mint("acme/web", audience="someone-else"),
        "expired": lambda: issuer.mint("acme/web", lifetime=-120),
        "other key": lambda: issuer.mint("acme/web", key=new_key()),
        "other issuer": lambda: issuer.mint("acme/web", issuer="https://evil.example"),
    }[forged]()
    assert check(oidc_gate, token).status_code == 401
