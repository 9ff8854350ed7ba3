"""`gate-server doctor`: the server-side checks an operator runs before (and after) serving.

One line per check -- PASS, WARN or FAIL, what was found, and what to do -- in the order a
fix is needed: the database first (nothing else can be read without it). Exit 1 on any
FAIL, 0 otherwise. It reads and never changes anything (unlike serve, which upgrades an
embedded SQLite database and empties the metrics directory).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator
from urllib.parse import urlsplit

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from gate_server.cli.serve import head_revision, metrics_dir_problem
from gate_server.services import tokens
from gate_server.settings import Settings
from gate_server.storage import migrate
from gate_contract.engine import DatabaseError, make_engine, mask_url

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"


@dataclass(frozen=True)
class Finding:
    status: str
    what: str
    todo: str = ""

    def line(self) -> str:
        return f"{self.status}  {self.what}" + (f" -- {self.todo}" if self.todo else "")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "doctor", help="check this server's database, schema, public URL, metrics dir and tokens",
        description="Check what serving needs, from the same environment serve reads: the database is "
                    "reachable and at this release's schema, GATE_PUBLIC_URL is an absolute URL, "
                    "PROMETHEUS_MULTIPROC_DIR is the metrics' own, tokens exist. Exit 1 on any FAIL.",
    )
    parser.set_defaults(func=doctor)


def database_findings(settings: Settings) -> Iterator[Finding]:
    url = settings.database_url
    try:
        current = migrate.current_revision(url)
    except DatabaseError as exc:
        yield Finding(FAIL, f"database unreachable: {exc}",
                      "start it, or set GATE_DATABASE_URL to the right database; the other checks need it")
        return
    yield Finding(PASS, f"database {mask_url(url)} reachable")
    head = head_revision(url)
    if current == head:
        yield Finding(PASS, f"schema at this release's head revision {head}")
    elif settings.is_embedded:
        yield Finding(WARN, f"schema at {current or 'none'}, this release needs {head}",
                      "gate-server serve upgrades the embedded SQLite database when it starts")
        if current is None:
            # The schema line already says serve will create the tables: a FAIL for the
            # missing token table would contradict it and make doctor exit 1 on a fresh install.
            yield Finding(WARN, "no tokens yet: the embedded database has no schema",
                          "gate-server db upgrade (or serve), then gate-server tokens create --scope check --service NAME")
            return
    else:
        yield Finding(FAIL, f"schema at {current or 'none'}, this release needs {head}",
                      "run gate-server db upgrade (serve refuses a Postgres schema behind its release)")
        return
    yield token_finding(url)


def token_finding(url: str) -> Finding:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            scopes = [token.scope for token in tokens.list_tokens(session) if token.revoked_at is None]
    except SQLAlchemyError as exc:
        return Finding(FAIL, f"tokens unreadable: {str(getattr(exc, 'orig', exc)).splitlines()[0]}",
                       "run gate-server db upgrade")
    finally:
        engine.dispose()
    counts = {scope: scopes.count(scope) for scope in sorted(set(scopes))}
    if not counts:
        return Finding(WARN, "no active API token: every API call will be refused (401)",
                       "gate-server tokens create --scope check --service NAME (the Action's); "
                       "--scope ingest for probes that upload")
    listed = ", ".join(f"{count} {scope}" for scope, count in counts.items())
    return Finding(PASS, f"active tokens: {listed}")


def public_url_finding(settings: Settings) -> Finding:
    url = settings.public_url
    if not url:
        return Finding(WARN, "GATE_PUBLIC_URL is unset: check links in webhooks, Slack and commit statuses are "
                             "paths, and the dashboard's session cookie is not Secure",
                       "set it to the URL users reach the server at, e.g. https://gate.example.com "
                       "(links are never taken from a request's Host header)")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return Finding(FAIL, f"GATE_PUBLIC_URL {url!r} is not an absolute http(s) URL",
                       "give scheme and host, e.g. https://gate.example.com")
    if parts.scheme == "http":
        return Finding(WARN, f"GATE_PUBLIC_URL {url} is http: the dashboard's session cookie is not Secure",
                       "serve it behind TLS and set an https:// URL")
    return Finding(PASS, f"GATE_PUBLIC_URL {url} (links and the Secure session cookie follow it)")


def metrics_dir_finding(settings: Settings) -> Finding:
    if not settings.metrics_multiproc_dir:
        return Finding(PASS, "PROMETHEUS_MULTIPROC_DIR unset: serve makes a fresh metrics directory at each start")
    problem = metrics_dir_problem(settings)
    if problem:
        return Finding(FAIL, problem)
    return Finding(PASS, f"PROMETHEUS_MULTIPROC_DIR {settings.metrics_multiproc_dir} holds only metrics files")


CHECKS: tuple[Callable[[Settings], Iterator[Finding] | Finding], ...] = (
    database_findings, public_url_finding, metrics_dir_finding,
)


def findings(settings: Settings) -> list[Finding]:
    found: list[Finding] = []
    for check in CHECKS:
        result = check(settings)
        found.extend([result] if isinstance(result, Finding) else result)
    return found


def doctor(args) -> int:
    found = findings(Settings.from_env())
    for finding in found:
        print(finding.line(), flush=True)
    failed = sum(finding.status == FAIL for finding in found)
    print(f"{failed} FAIL, {sum(f.status == WARN for f in found)} WARN, {sum(f.status == PASS for f in found)} PASS")
    return 1 if failed else 0
