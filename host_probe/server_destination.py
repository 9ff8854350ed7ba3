"""Records uploaded to the gate server: PUT /api/v1/recordings/<uuid> and
.../windows/<index> with an `ingest` token. The server stores a replayed upload
once, so an answer lost on the way is simply sent again."""

from __future__ import annotations

from typing import Any

import requests

from host_probe.errors import Refused, Unavailable

# Answers that may change on retry: the server or its database is busy or away.
RETRY_LATER = {408, 429, 500, 502, 503, 504}
CONNECT_TIMEOUT_S, READ_TIMEOUT_S = 5, 60


class ServerDestination:
    def __init__(self, server_url: str, token: str):
        self.base = server_url.rstrip("/") + "/api/v1/recordings"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.name = f"gate server {server_url.rstrip('/')}"

    def check(self) -> None:
        """Nothing to ask first: the first upload is the recording's, and a refused
        one (token, scope) stops the recorder before it attaches."""

    def _url(self, entry: dict[str, Any]) -> str:
        data = entry["data"]
        if entry["type"] == "recording":
            return f"{self.base}/{data['uuid']}"
        return f"{self.base}/{data['recording_uuid']}/windows/{int(data['index'])}"

    def store(self, entry: dict[str, Any]) -> None:
        try:
            response = self.session.put(self._url(entry), json=entry["data"],
                                        timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S))
        except requests.RequestException as exc:
            raise Unavailable(f"gate server unreachable ({type(exc).__name__})") from None
        if response.ok:
            return
        try:
            body = response.json()
        except ValueError:  # not our server's JSON (a proxy's page): its status is all we have
            body = None
        error = body.get("error", "") if isinstance(body, dict) else response.reason
        message = f"gate server answered {response.status_code}: {error}"
        raise (Unavailable if response.status_code in RETRY_LATER else Refused)(message)

    def close(self) -> None:
        self.session.close()
