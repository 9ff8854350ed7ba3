"""Start, drive and stop each workload: the recorder's view of them.

A workload is prepared (`prepare(injection, variant)`: its data and configuration,
written from the recorder's process) and then started by its foreground
`command(variant)`: by the recorder before the probe attaches (a baseline, running
for a while already, as production is), or by the probe itself (`host-probe record
-- CMD`, a canary started fresh in front of it, as a rollout starts it). `load(rate)`
drives it from the recorder's process, outside the recorded tree.
"""

from __future__ import annotations

import random
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Optional, Protocol

from bench.workloads import nginx_site, postgres_app, redis_store, static_server, webapp
from bench.workloads.inject import ONCE, REPEATED, RELATIVE_CWD, prepare_symlink
from bench.workloads.load import HttpLoad, wait_for_http

REPO_ROOT = Path(__file__).resolve().parents[2]
LOG_DIR = REPO_ROOT / "bench" / "out" / "evaluation"
PYTHON = sys.executable
WORKER_CHURN = "worker-churn"  # a benign variant: a pre-fork server recycling its workers every few requests


class Load(Protocol):
    def stop(self) -> dict[str, int]: ...


class Workload(Protocol):
    name: str
    service: str
    full_rate: float  # requests (or transactions) per second at 100 % of traffic
    injections: tuple[str, ...]  # the changes a canary of this workload can carry
    variants: tuple[str, ...]  # benign variants of how it runs

    def prepare(self, injection: Optional[str], variant: Optional[str]) -> None: ...

    def command(self, variant: Optional[str]) -> list[str]: ...

    def wait_ready(self) -> None: ...

    def load(self, rate: float, hook_after: float) -> Load: ...

    def cleanup(self) -> None: ...


class WebappWorkload:
    name, service, full_rate = "webapp", "eval-webapp", 50.0
    port = 18400
    injections = (*REPEATED, "write", *ONCE, "logging")
    variants = (WORKER_CHURN,)

    def prepare(self, injection, variant) -> None:
        shutil.rmtree(webapp.WEBAPP_ROOT, ignore_errors=True)
        webapp.prepare()
        prepare_symlink()
        RELATIVE_CWD.mkdir(parents=True, exist_ok=True)

    def command(self, variant) -> list[str]:
        # Worker recycling (--max-requests) is real process churn the judge must not mind;
        # the worker-churn variant recycles every 10-15 requests (a worker lives about 2 s).
        recycle = ["10", "5"] if variant == WORKER_CHURN else ["500", "100"]
        return [PYTHON, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{self.port}",
                "--max-requests", recycle[0], "--max-requests-jitter", recycle[1], "bench.workloads.webapp:app"]

    def wait_ready(self) -> None:
        wait_for_http("127.0.0.1", self.port, "/healthz", timeout=90)

    def load(self, rate, hook_after) -> Load:
        return HttpLoad("127.0.0.1", self.port, lambda rng: f"/item/{rng.randint(1, 500)}", rate,
                        hook_after=hook_after).start()

    def cleanup(self) -> None:
        shutil.rmtree(webapp.WEBAPP_ROOT, ignore_errors=True)


class StaticWorkload:
    name, service, full_rate = "static", "eval-static", 50.0
    port = 18410
    injections = (*REPEATED, "write", "exec-once", "outbound-once")
    variants = ()

    def prepare(self, injection, variant) -> None:
        shutil.rmtree(static_server.STATIC_ROOT, ignore_errors=True)
        static_server.prepare()

    def command(self, variant) -> list[str]:
        return [PYTHON, "-m", "bench.workloads.static_server", "--port", str(self.port)]

    def wait_ready(self) -> None:
        wait_for_http("127.0.0.1", self.port, "/index.html", timeout=90)

    def load(self, rate, hook_after) -> Load:
        paths = static_server.site_paths()

        def choose(rng: random.Random) -> str:
            # A few misses, as real crawlers and stale links cause.
            return f"/missing/{rng.randint(1, 50)}.html" if rng.random() < 0.05 else rng.choice(paths)

        return HttpLoad("127.0.0.1", self.port, choose, rate, hook_after=hook_after).start()

    def cleanup(self) -> None:
        shutil.rmtree(static_server.STATIC_ROOT, ignore_errors=True)


class _ConfiguredDaemon:
    """A daemon whose release is its configuration: `module` writes it (prepare), names
    the foreground command, says when it answers, and keeps its data under ROOT."""

    module: ModuleType
    variants = ()

    def prepare(self, injection, variant) -> None:
        self.module.prepare(injection)

    def command(self, variant) -> list[str]:
        return self.module.command()

    def wait_ready(self) -> None:
        self.module.wait_ready()

    def cleanup(self) -> None:
        shutil.rmtree(self.module.ROOT, ignore_errors=True)


class NginxWorkload(_ConfiguredDaemon):
    name, service, full_rate = "nginx", "eval-nginx", 250.0
    module, injections = nginx_site, nginx_site.INJECTIONS

    def load(self, rate, hook_after) -> Load:
        site = nginx_site.site_paths()
        return HttpLoad("127.0.0.1", nginx_site.NGINX_PORT, lambda rng: nginx_site.choose_path(rng, site),
                        rate, hook_after=hook_after).start()


class RedisWorkload(_ConfiguredDaemon):
    name, service, full_rate = "redis", "eval-redis", 1500.0
    module, injections = redis_store, redis_store.INJECTIONS

    def load(self, rate, hook_after) -> Load:
        return redis_store.RedisLoad(rate).start()


class _Pgbench:
    def __init__(self, process):
        self.process = process

    def stop(self) -> dict[str, int]:
        # Interrupted pgbench prints no summary; its per-second progress lines
        # ("progress: 5.0 s, 99.0 tps, ...") give the transactions run. SIGTERM,
        # not SIGINT: a shell without job control starts background jobs with
        # SIGINT ignored.
        import subprocess

        self.process.terminate()
        try:
            output, _ = self.process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            output, _ = self.process.communicate()
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        with open(LOG_DIR / "pgbench.log", "a") as log:
            log.write(output)
        lines = output.splitlines()
        tps = [float(line.split(",")[1].split()[0]) for line in lines if line.startswith("progress:")]
        return {"transactions": round(sum(tps)), "pgbench_seconds": len(tps),
                "aborted_clients": sum(" aborted " in line for line in lines)}


class PostgresWorkload:
    name, service, full_rate = "postgres", "eval-postgres", 100.0
    injections = postgres_app.INJECTIONS
    variants = ()

    def __init__(self):
        self.server: postgres_app.FixedPostgres | None = None

    def prepare(self, injection, variant) -> None:
        self.server = postgres_app.prepare_database(injection)

    def command(self, variant) -> list[str]:
        assert self.server is not None, "prepare the database first"
        return postgres_app.command(self.server)

    def wait_ready(self) -> None:
        postgres_app.wait_ready(self.server)

    def load(self, rate, hook_after) -> Load:
        assert self.server is not None, "start the database before driving it"
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        # Long enough for any recording; stopped by the recorder.
        return _Pgbench(postgres_app.start_pgbench(self.server, rate, 600, LOG_DIR / "pgbench.sql"))

    def cleanup(self) -> None:
        if self.server is not None:
            shutil.rmtree(self.server.dir, ignore_errors=True)
            self.server = None


WORKLOADS: dict[str, type] = {w.name: w for w in (WebappWorkload, PostgresWorkload, StaticWorkload,
                                                  NginxWorkload, RedisWorkload)}
