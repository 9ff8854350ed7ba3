"""A static file server (Python's http.server, threaded): the "static files" workload.

`python -m bench.workloads.static_server --port 18410` serves STATIC_ROOT/www and
appends one access-log line per request to STATIC_ROOT/log/access.log, as a
production file server does. `prepare()` writes the site: pages, stylesheets,
scripts and binary assets of varied sizes in nested directories.
"""

from __future__ import annotations

import argparse
import functools
import random
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

from bench.workloads.inject import EVAL_ROOT, HOOK_PATH, Injector

STATIC_ROOT = EVAL_ROOT / "static"
SITE_FILES = 60

injector = Injector("static")
_log_lock = threading.Lock()


def site_paths() -> list[str]:
    """URL paths of the site's files (the load generator requests these)."""
    kinds = [("pages", "html"), ("css", "css"), ("js", "js"), ("img", "bin")]
    return [f"/{kinds[i % 4][0]}/file{i}.{kinds[i % 4][1]}" for i in range(SITE_FILES)] + ["/index.html"]


def write_site(www) -> None:
    rng = random.Random(4)
    for path in site_paths():
        target = www / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(rng.randbytes(rng.randint(200, 64_000)))


def prepare() -> None:
    write_site(STATIC_ROOT / "www")
    (STATIC_ROOT / "log").mkdir(parents=True, exist_ok=True)


class LoggingHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:
        line = "%s - %s\n" % (self.address_string(), format % args)
        with _log_lock, open(STATIC_ROOT / "log" / "access.log", "a") as log:
            log.write(line)

    def do_GET(self) -> None:
        super().do_GET()
        if self.path == HOOK_PATH:
            injector.on_hook()
        injector.maybe_inject()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=18410)
    args = parser.parse_args(argv)
    handler = functools.partial(LoggingHandler, directory=str(STATIC_ROOT / "www"))
    with ThreadingHTTPServer(("127.0.0.1", args.port), handler) as server:
        server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
