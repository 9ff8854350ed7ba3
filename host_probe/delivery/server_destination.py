"""Records uploaded to the gate server: PUT /api/v1/recordings/<uuid> and
.../windows/<index> with an `ingest` token. The server stores a replayed upload
once, so an answer lost on the way is simply sent again. Bodies are gzipped
(Content-Encoding: gzip): a window's JSON of repeated paths shrinks about tenfold,
so a large window passes a proxy's body limit."""

from __future__ import annotations

import gzip
import json
from typing import Any

import requests

from host_probe.errors import Refused, Rejected, Unavailable

# Answers that may change on retry: the server or its database is busy or away.
RETRY_LATER = {408, 429, 500, 502, 503, 504}
# Answers a token will not change: this record, as it is, is never taken (too large, invalid,
# its recording unknown). It is set aside; a 401 or 403 is the token's and waits for a new one.
NEVER_AS_SENT = {400, 404, 409, 413, 422}
# Timeouts bound one request of the sender thread (a hung server); the loop never waits for them.
CONNECT_TIMEOUT_S, READ_TIMEOUT_S = 5, 30
GZIP_LEVEL = 6  # most of level 9's ratio on JSON, at a fraction of its time


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
        body = gzip.compress(json.dumps(entry["data"]).encode(), compresslevel=GZIP_LEVEL)
        try:
            response = self.session.put(self._url(entry), data=body, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
                                        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
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
        if response.status_code in RETRY_LATER:
            raise Unavailable(message)
        raise (Rejected if response.status_code in NEVER_AS_SENT else Refused)(message)

    def close(self) -> None:
        self.session.close()
