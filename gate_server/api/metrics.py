"""Prometheus metrics at /metrics (no token: scrapers rarely carry one; nothing secret is exposed).

Under gunicorn every worker is a process with its own counters. We use
prometheus_client's multiprocess mode: `gate-server serve` sets
PROMETHEUS_MULTIPROC_DIR to a fresh directory, each worker writes its values to
files there, and a scrape aggregates all of them -- so whichever worker answers
sees the totals of every worker (a registry per worker would answer with one
worker's share, different from scrape to scrape). Without that directory (tests,
`flask run`) the process's own registry is served.
"""

from __future__ import annotations

import math
import time

from flask import Blueprint, Flask, Response, current_app, g, request

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess

bp = Blueprint("metrics", __name__)

# Metrics are process-wide by nature (as prometheus_client intends): defined once here.
# `service` is bounded by the operator: a check of a service without recorded windows is refused
# before it is counted, and tokens name the services they may check.
CHECKS = Counter("gate_checks_total", "Checks run, by service and verdict.", ["service", "verdict"])
# mostrecent: under gunicorn each worker writes its own file; a scrape shows the value the
# latest check set, whichever worker ran it (a sum or max over workers would mean nothing).
LAST_SCORE = Gauge("gate_check_last_score", "The score (0-100, 100 = as the baseline) of the service's latest check.",
                   ["service"], multiprocess_mode="mostrecent")
CHECK_SECONDS = Histogram(
    "gate_check_duration_seconds", "Time to load both profiles, judge and store a check.",
    buckets=(0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
HTTP_REQUESTS = Counter("gate_http_requests_total", "HTTP requests, by method, route and status.",
                        ["method", "route", "status"])
HTTP_SECONDS = Histogram("gate_http_request_duration_seconds", "HTTP request latency, by route.", ["route"])


def observe_check(service: str, verdict: str, score: float, seconds: float) -> None:
    CHECKS.labels(service=service, verdict=verdict).inc()
    # An inconclusive check's score rests on too little observation to show as the service's.
    if verdict != "inconclusive" and math.isfinite(score):
        LAST_SCORE.labels(service=service).set(score)
    CHECK_SECONDS.observe(seconds)


def _start_timer() -> None:
    g.request_started = time.perf_counter()


# Any token is a valid HTTP method; one label value per verb a client makes up would grow without bound.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else "other"


def _count_request(response):
    # The route template, not the raw path: /api/v1/checks/<int:check_id> is one label value.
    route = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
    HTTP_REQUESTS.labels(method=_method_label(request.method), route=route, status=str(response.status_code)).inc()
    started = g.get("request_started")
    if started is not None:
        HTTP_SECONDS.labels(route=route).observe(time.perf_counter() - started)
    return response


def init_app(app: Flask) -> None:
    app.before_request(_start_timer)
    app.after_request(_count_request)


@bp.get("/metrics")
def metrics():
    multiproc_dir = current_app.config["GATE_SETTINGS"].metrics_multiproc_dir
    if multiproc_dir:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=multiproc_dir)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
