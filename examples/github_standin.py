"""A local stand-in for the part of GitHub's REST API the Action calls (commit and
deployment statuses), so the demo runs the client with statuses on, offline.
It accepts what GitHub would and remembers every call to show them afterwards."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATUS_PATH = re.compile(r"^/repos/[^/]+/[^/]+/(statuses/[0-9a-f]{7,40}|deployments/\d+/statuses)$")


class GitHubStandIn:
    def __init__(self):
        self.calls: list[dict] = []
        self._lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = None
                authorised = (self.headers.get("Authorization") or "").startswith(("Bearer ", "token "))
                if not authorised:
                    self._answer(401, {"message": "Requires authentication"})
                elif not STATUS_PATH.match(self.path) or not isinstance(body, dict) or "state" not in body:
                    self._answer(422, {"message": "Validation Failed"})
                else:
                    with standin._lock:
                        standin.calls.append({"path": self.path, "body": body})
                    self._answer(201, {"id": len(standin.calls), **body})

            def _answer(self, status: int, document: dict) -> None:
                payload = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="github-standin", daemon=True)

    def __enter__(self) -> "GitHubStandIn":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.server.server_close()

    def calls_since(self, index: int) -> list[dict]:
        with self._lock:
            return list(self.calls[index:])
