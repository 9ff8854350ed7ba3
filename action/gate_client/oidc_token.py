"""The job's GitHub OIDC token, for a gate that accepts them (GATE_OIDC_ISSUER on the server),
so the repository stores no gate token. A job with `permissions: id-token: write` has
ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN; the runner's token service
answers GET <url>&audience=<aud> with {"value": "<JWT>"}."""

from __future__ import annotations

from typing import Mapping
from urllib.parse import quote

import requests

from .inputs import InputError


def github_oidc_token(env: Mapping[str, str], audience: str) -> str:
    url, bearer = env.get("ACTIONS_ID_TOKEN_REQUEST_URL", ""), env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "")
    if not url or not bearer:
        raise InputError("input 'token' is empty and this job cannot request a GitHub OIDC token: set token, "
                         "or give the job `permissions: id-token: write` (for a gate with GATE_OIDC_ISSUER)")
    separator = "&" if "?" in url else "?"
    try:
        response = requests.get(f"{url}{separator}audience={quote(audience, safe='')}", timeout=30,
                                headers={"Authorization": f"bearer {bearer}", "Accept": "application/json"})
        response.raise_for_status()
        return str(response.json()["value"])
    except (requests.RequestException, ValueError, KeyError) as exc:
        raise InputError(f"could not get this job's GitHub OIDC token for audience {audience!r}: {exc}") from None
