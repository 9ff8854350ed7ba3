"""A local HTTP server standing in for a webhook receiver (Slack, PagerDuty, a chat bridge)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WebhookReceiver:
    """Records every POST; answers `fail_first` posts with 500, or sleeps `hang` seconds."""

    def __init__(self, *, fail_first: int = 0, hang: float = 0.0):
        self.posts: list[dict] = []
        self.attempts = 0
        self.fail_first = fail_first
        self.hang = hang
        self._arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._arrived:
                    receiver.attempts += 1
                    attempt = receiver.attempts
                if receiver.hang:
                    time.sleep(receiver.hang)
                status = 500 if attempt <= receiver.fail_first else 200
                try:
                    self.send_response(status)
                    self.end_headers()
                    self.wfile.write(b"ok" if status == 200 else b"boom")
                except BrokenPipeError:
                    return  # the sender timed out while we hung: not delivered
                if status == 200:
                    with receiver._arrived:
                        receiver.posts.append({"path": self.path, "body": json.loads(body),
                                               "content_type": self.headers.get("Content-Type"),
                                               "delivery": self.headers.get("X-Gate-Delivery")})
                        receiver._arrived.notify_all()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.posts) < count and time.monotonic() < deadline:
                self._arrived.wait(deadline - time.monotonic())
        return list(self.posts)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
