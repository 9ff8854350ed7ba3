"""demo-shop: the small real HTTP service the demo rolls out, in three versions.

    python -m examples.sample_service --version v1|v2|v2-bad --state-dir DIR --port N

Every version reads its config file at start, then per request reads the catalogue
file, writes a cache file per item, appends to an access log and renders reports
through a temporary file. The versions differ the way real releases do:

- v1      the version in production.
- v2      a healthy release: a new JSON response envelope and a different log line,
          the same behaviour at the kernel boundary (same files, same syscalls).
- v2-bad  v2 plus a "diagnostics" change that, on every other /report request,
          reads /etc/shadow and runs `/bin/sh -c ...` -- what the gate must stop.

Instances bind with SO_REUSEPORT, so a baseline and its canaries share one port and
the kernel splits connections between them, like a canary taking part of the traffic.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

VERSIONS = ("v1", "v2", "v2-bad")
CONFIG_NAME = "service.json"
CATALOGUE_SIZE = 50
# The misbehaving version's trigger: every Nth /report request.
BAD_REPORT_EVERY = 2
SENSITIVE_FILE = "/etc/shadow"
SHELL = "/bin/sh"


def prepare_state_dir(state_dir: Path) -> Path:
    """Write the config and catalogue every version reads; return the config path."""
    state_dir.mkdir(parents=True, exist_ok=True)
    for name in ("logs", "cache"):
        (state_dir / name).mkdir(exist_ok=True)
    catalogue = {str(n): {"id": n, "name": f"item {n}", "price_cents": 100 + 7 * n}
                 for n in range(1, CATALOGUE_SIZE + 1)}
    (state_dir / "catalogue.json").write_text(json.dumps(catalogue))
    config = {"catalogue": "catalogue.json", "log_dir": "logs", "cache_dir": "cache",
              "diagnostics_log": "diagnostics.log"}
    config_path = state_dir / CONFIG_NAME
    config_path.write_text(json.dumps(config, indent=2))
    return config_path


class Shop:
    """The service's behaviour, one object per process."""

    def __init__(self, version: str, state_dir: Path):
        config = json.loads((state_dir / CONFIG_NAME).read_text())
        self.version = version
        self.catalogue_path = state_dir / config["catalogue"]
        self.cache_dir = state_dir / config["cache_dir"]
        self.diagnostics_log = state_dir / config["diagnostics_log"]
        self.access_log = open(state_dir / config["log_dir"] / "access.log", "a", buffering=1)
        self.log_lock = threading.Lock()
        self.reports_served = 0
        self.counter_lock = threading.Lock()

    def log(self, method: str, path: str, status: int) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        if self.version == "v1":
            line = f"{stamp} {method} {path} {status}"
        else:  # v2 logs structured lines
            line = json.dumps({"ts": stamp, "method": method, "path": path,
                               "status": status, "version": self.version})
        with self.log_lock:
            self.access_log.write(line + "\n")

    def item(self, item_id: str) -> tuple[int, dict]:
        with open(self.catalogue_path) as f:  # re-read per request: the catalogue is hot-reloaded
            catalogue = json.load(f)
        item = catalogue.get(item_id)
        if item is None:
            return 404, {"error": f"no item {item_id}"}
        with open(self.cache_dir / f"item-{item_id}.json", "w") as f:
            json.dump(item, f)
        if self.version == "v1":
            return 200, item
        return 200, {"data": item, "api_version": 2}

    def report(self) -> tuple[int, dict, dict]:
        with open(self.catalogue_path) as f:
            catalogue = json.load(f)
        total = sum(entry["price_cents"] for entry in catalogue.values())
        with tempfile.NamedTemporaryFile("w+") as scratch:  # /tmp/tmpXXXXXXXX, random per report
            json.dump({"items": len(catalogue), "total_cents": total}, scratch)
            scratch.flush()
            scratch.seek(0)
            summary = json.load(scratch)
        headers = {}
        if self.version == "v2-bad":
            with self.counter_lock:
                self.reports_served += 1
                triggered = self.reports_served % BAD_REPORT_EVERY == 0
            if triggered:
                headers["X-Diagnostics"] = self.collect_diagnostics()
        body = summary if self.version == "v1" else {"data": summary, "api_version": 2}
        return 200, body, headers

    def collect_diagnostics(self) -> str:
        """The regression: a 'debug' helper that reads credentials and shells out."""
        try:
            with open(SENSITIVE_FILE) as f:
                accounts = sum(1 for _ in f)
        except OSError:
            accounts = -1
        result = subprocess.run(
            [SHELL, "-c", 'echo "diagnostics accounts=$1" >> "$2"', "diag", str(accounts),
             str(self.diagnostics_log)], check=False)
        return f"shell-exit={result.returncode}"


class ShopHandler(BaseHTTPRequestHandler):
    shop: Shop  # set on the subclass made by serve()
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        headers: dict = {}
        if self.path == "/healthz":
            status, body = 200, {"ok": True, "version": self.shop.version}
        elif self.path.startswith("/items/"):
            status, body = self.shop.item(self.path.removeprefix("/items/"))
        elif self.path == "/report":
            status, body, headers = self.shop.report()
        else:
            status, body = 404, {"error": "not found"}
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Shop-Version", self.shop.version)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
        self.shop.log("GET", self.path, status)

    def log_message(self, format, *args) -> None:  # the shop writes its own access log
        pass


class SharedPortServer(ThreadingHTTPServer):
    allow_reuse_port = True  # baseline and canaries listen on one port (SO_REUSEPORT)
    daemon_threads = True


def serve(version: str, state_dir: Path, port: int, ready_file: Path | None = None) -> int:
    shop = Shop(version, state_dir)
    handler = type("BoundShopHandler", (ShopHandler,), {"shop": shop})
    server = SharedPortServer(("127.0.0.1", port), handler)
    # SIGTERM (from the probe or the demo) ends serve_forever like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    if ready_file is not None:
        ready_file.write_text(str(os.getpid()))
    try:
        server.serve_forever(poll_interval=0.5)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
        shop.access_log.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.sample_service",
                                     description="demo-shop, the demo's sample service.")
    parser.add_argument("--version", choices=VERSIONS, required=True)
    parser.add_argument("--state-dir", type=Path, required=True,
                        help=f"directory holding {CONFIG_NAME}, the catalogue, logs and cache")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ready-file", type=Path, help="written with the pid once listening")
    parser.add_argument("--prepare", action="store_true", help="create the state dir first")
    args = parser.parse_args(argv)
    if args.prepare:
        prepare_state_dir(args.state_dir)
    if not (args.state_dir / CONFIG_NAME).is_file():
        print(f"sample_service: error: no {CONFIG_NAME} in {args.state_dir} (use --prepare)",
              file=sys.stderr)
        return 2
    return serve(args.version, args.state_dir, args.port, args.ready_file)


if __name__ == "__main__":
    sys.exit(main())
