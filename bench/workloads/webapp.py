"""A small Flask shop page served by gunicorn: the "gunicorn app" workload.

Each page request does real work a web app does: reads its template and config
from disk, asks a backend over a TCP socket for the price, appends to its access
log, and writes a rendered copy to a cache directory through a randomly named
temporary file (so every run has new temp names for the probe to normalise).

Run: gunicorn -w 2 -b 127.0.0.1:18400 bench.workloads.webapp:app
Data lives under WEBAPP_ROOT, prepared by `prepare()` before the server starts.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import string
import tempfile

from flask import Flask, Response

from bench.workloads.inject import EVAL_ROOT, HOOK_PATH, Injector

WEBAPP_ROOT = EVAL_ROOT / "webapp"
BACKEND_ADDRESS = ("127.0.0.1", 18431)

TEMPLATE = """<!doctype html><title>$title</title>
<h1>Item $item</h1><p>Price: $price $currency</p><p>Served by $worker</p>"""

app = Flask(__name__)
injector = Injector("webapp", debug_log=WEBAPP_ROOT / "log" / "debug.log")


def prepare() -> None:
    """Create the app's files (template, config, log and cache directories)."""
    for sub in ("templates", "log", "cache"):
        (WEBAPP_ROOT / sub).mkdir(parents=True, exist_ok=True)
    (WEBAPP_ROOT / "templates" / "page.html").write_text(TEMPLATE)
    (WEBAPP_ROOT / "config.json").write_text(json.dumps({"title": "Eval shop", "currency": "EUR"}))


def backend_price(item: int) -> str:
    with socket.create_connection(BACKEND_ADDRESS, timeout=2) as sock:
        sock.sendall(f"price {item}\n".encode())
        return sock.makefile("r").readline().strip()


@app.get("/item/<int:item>")
def item_page(item: int) -> Response:
    template = string.Template((WEBAPP_ROOT / "templates" / "page.html").read_text())
    config = json.loads((WEBAPP_ROOT / "config.json").read_text())
    body = template.substitute(title=config["title"], currency=config["currency"], item=item,
                               price=backend_price(item), worker=os.getpid())
    cache_dir = WEBAPP_ROOT / "cache"
    with tempfile.NamedTemporaryFile("w", dir=cache_dir, prefix="req-", suffix=".tmp", delete=False) as tmp:
        tmp.write(body)
    os.replace(tmp.name, cache_dir / f"{hashlib.sha1(str(item).encode()).hexdigest()}.html")
    with open(WEBAPP_ROOT / "log" / "access.log", "a") as log:
        log.write(f"GET /item/{item} 200 {len(body)}\n")
    injector.log_line(f"debug: item {item} priced by {BACKEND_ADDRESS} for worker {os.getpid()}\n")
    injector.maybe_inject()
    return Response(body, mimetype="text/html")


@app.get(HOOK_PATH)
def hook() -> Response:
    injector.on_hook()
    return Response("ok\n", mimetype="text/plain")


@app.get("/healthz")
def healthz() -> Response:
    return Response("ok\n", mimetype="text/plain")
