"""A reverse proxy in front of the real gate that answers the first N requests
with a chosen status -- a gate restarting behind its load balancer."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests


class FlakyProxy:
    def __init__(self, upstream: str, fail_first: int, status: int = 503):
        self.upstream = upstream.rstrip("/")
        self.fail_first = fail_first
        self.status = status
        self.requests_seen = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with proxy._lock:
                    proxy.requests_seen += 1
                    failing = proxy.requests_seen <= proxy.fail_first
                if failing:
                    status, payload = proxy.status, json.dumps(
                        {"error": "the gate is restarting", "status": proxy.status}).encode()
                else:
                    answer = requests.post(proxy.upstream + self.path, data=body, timeout=60, headers={
                        "Authorization": self.headers.get("Authorization", ""),
                        "Content-Type": self.headers.get("Content-Type", "application/json"),
                    })
                    status, payload = answer.status_code, answer.content
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="flaky-proxy", daemon=True)

    def __enter__(self) -> "FlakyProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.server.server_close()
