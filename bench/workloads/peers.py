"""Loopback peers the recorder runs in its own process (outside the recorded
service's process tree): the web app's price backend, and a listener at the
"new outbound" address so an injected connect completes like a real one."""

from __future__ import annotations

import socketserver
import threading


class _PriceHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        line = self.rfile.readline().decode(errors="replace").split()
        item = int(line[1]) if len(line) == 2 and line[1].isdigit() else 0
        self.wfile.write(f"{(item * 37) % 1000 / 10:.2f}\n".encode())


class _DiscardHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(1)
        try:
            self.request.recv(4096)
        except OSError:
            pass


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class LoopbackPeer:
    """A threaded TCP server on `address`, serving in a daemon thread until stopped."""

    def __init__(self, address: tuple[str, int], handler: type[socketserver.BaseRequestHandler]):
        self.server = _Server(address, handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "LoopbackPeer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def price_backend(address: tuple[str, int]) -> LoopbackPeer:
    return LoopbackPeer(address, _PriceHandler)


def discard_listener(address: tuple[str, int]) -> LoopbackPeer:
    return LoopbackPeer(address, _DiscardHandler)
