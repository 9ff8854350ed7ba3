"""`gate-server serve`: the API under gunicorn, with gate_server/gunicorn_conf.py.

Schema policy: the embedded SQLite database is upgraded automatically (it belongs to
this one server, and a first run should just work). A Postgres database is shared by
every server replica and the probes, so its migrations are a deliberate step: serve
refuses to start until `gate-server db upgrade` has brought it to this release's head.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

from alembic.script import ScriptDirectory

from gate_server import gunicorn_conf
from gate_server.cli.errors import UsageError
from gate_server.github_app.config import GitHubAppConfigError, load_github_app_config
from gate_server.settings import Settings
from gate_server.storage import migrate
from gate_contract.engine import mask_url

APP_FACTORY = "gate_server.app:create_app()"


def register(subparsers) -> None:
    serve_parser = subparsers.add_parser(
        "serve", help="run the gate server under gunicorn",
        description="Run the API under gunicorn. The database is $GATE_DATABASE_URL "
                    "(default: SQLite under the data dir).",
    )
    serve_parser.add_argument("--bind", metavar="HOST:PORT",
                              help="where to listen (default: $GATE_BIND, else 127.0.0.1:8080: loopback, "
                                   "behind a reverse proxy)")
    serve_parser.add_argument("--workers", type=int, default=gunicorn_conf.workers,
                              help="worker processes (default: %(default)s, from the CPU count)")
    serve_parser.add_argument("--timeout", type=int, default=gunicorn_conf.timeout,
                              help="seconds before a silent worker is restarted (default: %(default)s)")
    serve_parser.add_argument("--access-log", metavar="FILE",
                              help="write an access log line per request to FILE ('-' for stdout)")
    serve_parser.set_defaults(func=serve)


def head_revision(database_url: str) -> str | None:
    return ScriptDirectory.from_config(migrate.alembic_config(database_url)).get_current_head()


def ensure_schema(settings: Settings) -> None:
    """Bring SQLite to head; refuse a Postgres schema that is missing or behind (exit 2)."""
    url = settings.database_url
    if settings.is_embedded:
        migrate.upgrade(url)
        return
    current, head = migrate.current_revision(url), head_revision(url)
    if current == head:
        return
    state = "has no schema" if current is None else f"is at schema revision {current}, this server needs {head}"
    raise UsageError(f"database {mask_url(url)} {state}: run `gate-server db upgrade` first")


# prometheus_client's multiprocess files: <type>_<pid>.db (values.py: counter, histogram,
# summary, gauge_<mode>). Only these are ever deleted.
METRICS_FILE = re.compile(r"^(counter|histogram|summary|gauge_[a-z]+)_[0-9]+\.db$")


METRICS_DIR_ADVICE = "give the metrics a directory of their own (serve empties it at every start), or unset it"


def metrics_dir_problem(settings: Settings) -> str | None:
    """Why PROMETHEUS_MULTIPROC_DIR may not be emptied by serve (None: it may, or it is unset)."""
    if not settings.metrics_multiproc_dir:
        return None
    path = Path(settings.metrics_multiproc_dir)
    where = f"PROMETHEUS_MULTIPROC_DIR {path}"
    if path.exists() and not path.is_dir():
        return f"{where} is not a directory: {METRICS_DIR_ADVICE}"
    if path.exists() and path.resolve() == settings.data_dir.resolve():
        return f"{where} is the data dir: {METRICS_DIR_ADVICE}"
    others = sorted(entry.name for entry in path.iterdir() if not METRICS_FILE.match(entry.name)) if path.exists() else []
    if others:
        listed = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
        return f"{where} holds other files ({listed}): {METRICS_DIR_ADVICE}"
    return None


def metrics_dir(settings: Settings) -> str:
    """A directory for the workers' shared metrics, empty at start (stale files would add old counts).

    A directory given by PROMETHEUS_MULTIPROC_DIR must be the metrics' own: serve empties it,
    so one that holds anything else (the data dir with the SQLite database) is refused.
    """
    if not settings.metrics_multiproc_dir:
        return tempfile.mkdtemp(prefix=gunicorn_conf.METRICS_DIR_PREFIX)
    problem = metrics_dir_problem(settings)
    if problem:
        raise UsageError(problem)
    path = Path(settings.metrics_multiproc_dir)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.iterdir():
        stale.unlink()
    return str(path)


def gunicorn_argv(args, settings: Settings) -> list[str]:
    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.timeout < 1:
        raise UsageError("--timeout must be at least 1 second")
    argv = [sys.executable, "-m", "gunicorn", "--config", f"python:{gunicorn_conf.__name__}",
            "--bind", args.bind or settings.bind, "--workers", str(args.workers), "--timeout", str(args.timeout)]
    if args.access_log:
        argv += ["--access-logfile", args.access_log]
    return argv + [APP_FACTORY]


def serve(args) -> int:
    settings = Settings.from_env()
    argv = gunicorn_argv(args, settings)
    shared_metrics = metrics_dir(settings)  # before the schema: a refused directory leaves everything untouched
    if settings.github_app_config:
        # Here, once, with exit 2 and one line, rather than as every worker's failed boot.
        try:
            load_github_app_config(settings)
        except GitHubAppConfigError as exc:
            raise UsageError(str(exc)) from None
    ensure_schema(settings)
    # prometheus_client picks multiprocess mode from the environment when a worker imports it.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = shared_metrics
    sys.stdout.flush()
    sys.stderr.flush()
    # exec, not a child: signals (SIGTERM from systemd or a container runtime) reach gunicorn's master.
    os.execv(sys.executable, argv)
    return 0  # not reached
