"""The gate server under load, through gunicorn on loopback: CHECKERS clients run checks
(POST /api/v1/checks, as the Action does between rollout stages) while PROBES clients upload
windows (PUT /api/v1/recordings/<uuid>/windows/<n>, as host-probe does), for SECONDS, on
Postgres and then on the embedded SQLite, each with WORKERS gunicorn workers.

Each checker sends a check, waits for the verdict, pauses --think seconds and sends the next;
each probe uploads a window every --interval seconds (ten times a real probe's 10 s window,
by default). Reports throughput, p50/p95/p99 per endpoint, errors (any answer but 2xx, or no
answer) and how often the server logged "database is locked". Targets: 0 errors, 0 "database
is locked", check p95 <= 250 ms.

Bounded: at most --seconds (capped at 600) of load per backend and MAX_REQUESTS requests in
all; the server binds 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import requests
from sqlalchemy.orm import Session

from bench.check_latency import feature_set, percentile, seed
from gate_server.services.tokens import create_token
from gate_server.storage import migrate
from gate_contract.engine import make_engine
from tests.support.live_server import LiveServer
from tests.support.postgres import ThrowawayPostgres

SERVICE = "load-web"
TARGET_CHECK_P95_MS = 250.0
MAX_SECONDS = 600
MAX_REQUESTS = 200_000
LOCKED = "database is locked"
ENDPOINTS = ("check", "window upload")
# 20 h of 10 s windows: 7 200 per probe before one would end in the future.
BACKDATED = timedelta(hours=20)


@dataclass
class Tally:
    """What the clients saw, per endpoint (appended from many threads: list.append is atomic)."""

    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in ENDPOINTS})
    errors: dict[str, list[str]] = field(default_factory=lambda: {name: [] for name in ENDPOINTS})
    windows_stored: list[int] = field(default_factory=list)  # per successful upload (a batch stores many)

    def total(self) -> int:
        return sum(len(values) for values in self.latencies_ms.values()) + sum(map(len, self.errors.values()))


def tokens(url: str) -> dict[str, str]:
    engine = make_engine(url)
    with Session(engine) as session, session.begin():
        made = {scope: create_token(session, scope=scope, services=[SERVICE]).secret for scope in ("check", "ingest")}
    engine.dispose()
    return made


def _timed(tally: Tally, endpoint: str, send, windows: int = 1) -> None:
    began = time.perf_counter()
    try:
        response = send()
    except requests.RequestException as exc:
        tally.errors[endpoint].append(f"no answer: {type(exc).__name__}")
        return
    if 200 <= response.status_code < 300:
        tally.latencies_ms[endpoint].append(1000 * (time.perf_counter() - began))
        tally.windows_stored.append(windows if endpoint == "window upload" else 0)
    else:
        tally.errors[endpoint].append(f"HTTP {response.status_code}: {response.text[:200]}")


def checker(base: str, token: str, think: float, deadline: float, tally: Tally) -> None:
    body = {"service": SERVICE, "baseline_version": "v1", "canary_version": "v2", "stage": "load"}
    with requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {token}"
        while time.monotonic() < deadline and tally.total() < MAX_REQUESTS:
            _timed(tally, "check", lambda: http.post(f"{base}/api/v1/checks", json=body, timeout=60))
            time.sleep(think)


def probe(base: str, token: str, interval: float, features: int, deadline: float, tally: Tally, rng: random.Random,
          batch: int = 1):
    """One host-probe: its recording of the next canary (v3), then a window every `interval` seconds;
    with `batch` > 1, `batch` windows per request (POST /api/v1/windows) every `interval` seconds."""
    recording = str(uuid.uuid4())
    keys = feature_set(features)
    # Windows are 10 s apart however fast they are sent: begun in the past, so a fast run's
    # windows do not end after their receipt (a server may refuse a window from the future).
    started = datetime.now(timezone.utc) - BACKDATED
    with requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {token}"
        info = {"service": SERVICE, "version": "v3", "role": "canary", "started_at": started.isoformat()}
        _timed(tally, "window upload", lambda: http.put(f"{base}/api/v1/recordings/{recording}", json=info, timeout=60),
               windows=0)
        index = 0
        next_upload = time.monotonic()
        while time.monotonic() < deadline and tally.total() < MAX_REQUESTS:
            windows = []
            for _ in range(batch):
                began = started + timedelta(seconds=10 * index)
                windows.append({"recording_uuid": recording, "index": index, "started_at": began.isoformat(),
                                "ended_at": (began + timedelta(seconds=10)).isoformat(), "syscalls_total": 1000,
                                "features": [[kind, key, rng.randint(1, 500)] for kind, key in keys]})
                index += 1
            if batch == 1:
                path = f"{base}/api/v1/recordings/{recording}/windows/{windows[0]['index']}"
                _timed(tally, "window upload", lambda: http.put(path, json=windows[0], timeout=60))
            else:
                _timed(tally, "window upload", lambda: http.post(f"{base}/api/v1/windows",
                                                                 json={"windows": windows}, timeout=60),
                       windows=batch)
            next_upload += interval
            time.sleep(max(0.0, next_upload - time.monotonic()))


def run_all(threads: list[threading.Thread]) -> float:
    """Start the clients together and wait for all; the seconds they ran."""
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic() - began


def run_load(url: str, args) -> tuple[Tally, int, float]:
    """Load one database through a fresh server; (what the clients saw, "database is locked" lines, seconds)."""
    secrets = tokens(url)
    with LiveServer(url, workers=args.workers) as server:
        tally = Tally()
        deadline = time.monotonic() + args.seconds
        threads = [threading.Thread(target=checker, args=(server.url, secrets["check"], args.think, deadline, tally))
                   for _ in range(args.checkers)]
        threads += [threading.Thread(target=probe, args=(server.url, secrets["ingest"], args.interval,
                                                         args.window_features, deadline, tally, random.Random(n),
                                                         args.batch))
                    for n in range(args.probes)]
        elapsed = run_all(threads)
        locked = server.log().count(LOCKED)
    return tally, locked, elapsed


def report(backend: str, tally: Tally, locked: int, elapsed: float, workers: int) -> bool:
    print(f"  {backend} ({workers} gunicorn workers, {elapsed:.0f} s):", flush=True)
    for endpoint in ENDPOINTS:
        values, errors = tally.latencies_ms[endpoint], tally.errors[endpoint]
        if values:
            print(f"    {endpoint:<14} {len(values) / elapsed:6.1f}/s  n={len(values):<6} "
                  f"p50 {statistics.median(values):7.1f} ms  p95 {percentile(values, 0.95):7.1f} ms  "
                  f"p99 {percentile(values, 0.99):7.1f} ms  errors {len(errors)}", flush=True)
        else:
            print(f"    {endpoint:<14} no successful request, errors {len(errors)}", flush=True)
        for message in sorted(set(errors))[:3]:
            print(f"      e.g. {message}", flush=True)
    print(f"    windows stored {sum(tally.windows_stored) / elapsed:6.1f}/s", flush=True)
    check_p95 = percentile(tally.latencies_ms["check"], 0.95) if tally.latencies_ms["check"] else float("inf")
    errors = sum(map(len, tally.errors.values()))
    passed = errors == 0 and locked == 0 and check_p95 <= TARGET_CHECK_P95_MS
    print(f"    errors {errors}, '{LOCKED}' {locked}, check p95 {check_p95:.1f} ms -> {'PASS' if passed else 'FAIL'} "
          f"(targets: 0, 0, <= {TARGET_CHECK_P95_MS:.0f} ms)", flush=True)
    return passed


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 s per backend (smoke run)")
    parser.add_argument("--seconds", type=float, help="seconds of load per backend (default 60, 10 with --quick)")
    parser.add_argument("--backends", default="postgres,sqlite", help="comma-separated (default: %(default)s)")
    parser.add_argument("--checkers", type=int, default=50, help="concurrent check clients (default: %(default)s)")
    parser.add_argument("--probes", type=int, default=20, help="concurrent uploading probes (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default: %(default)s)")
    parser.add_argument("--think", type=float, default=1.0, help="a checker's pause between checks, s (default 1)")
    parser.add_argument("--interval", type=float, default=1.0, help="a probe's seconds between windows (default 1)")
    parser.add_argument("--windows", type=int, default=12, help="seeded windows per side (default 12)")
    parser.add_argument("--features", type=int, default=1000, help="features per seeded window (default 1000)")
    parser.add_argument("--batch", type=int, default=1,
                        help="windows per upload request: 1 PUTs each window, more POST /api/v1/windows (default 1)")
    parser.add_argument("--window-features", type=int, default=300, help="features per uploaded window (default 300)")
    args = parser.parse_args(argv)
    args.seconds = min(args.seconds or (10.0 if args.quick else 60.0), MAX_SECONDS)
    unknown = set(args.backends.split(",")) - {"postgres", "sqlite"}
    if unknown:
        parser.error(f"unknown backend(s) {', '.join(sorted(unknown))}: choose postgres, sqlite")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"{args.checkers} checkers (pause {args.think:g} s), {args.probes} probes (a window of "
          f"{args.window_features} features every {args.interval:g} s), {args.seconds:g} s per backend; "
          f"checks compare {args.windows} windows x {args.features} features per side", flush=True)
    results = []
    for backend in args.backends.split(","):
        if backend == "postgres":
            with ThrowawayPostgres() as postgres:
                url = postgres.create_database("bench_load")
                migrate.upgrade(url)
                seed(url, args.windows, args.features, service=SERVICE)
                results.append(report(backend, *run_load(url, args), args.workers))
        else:
            with tempfile.TemporaryDirectory(prefix="syscall-gate-load-") as scratch:
                url = f"sqlite:///{scratch}/load.db"
                migrate.upgrade(url)
                seed(url, args.windows, args.features, service=SERVICE)
                results.append(report(backend, *run_load(url, args), args.workers))
    return 0 if all(results) else 1
