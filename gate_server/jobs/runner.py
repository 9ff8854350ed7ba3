"""The job runner of one server process: threads that each lease a job, run its handler
while a heartbeat renews the lease, and mark it done.

Every gunicorn worker of every gate server runs one (gunicorn_conf.post_worker_init),
so jobs survive a restart and are shared by several servers on one database. A job
runs at least once and, unless its server dies mid-job, exactly once: the lease of a
killed server's job expires and another takes it again, so a handler's side effect
must either come after the point a kill can interrupt, or carry the job's id for the
receiver to deduplicate (webhooks send it as X-Gate-Delivery).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Mapping

from prometheus_client import Counter
from sqlalchemy.orm import sessionmaker

from gate_server.storage import jobs
from gate_server.storage.failures import Failure, classify

log = logging.getLogger(__name__)

JOBS = Counter("gate_jobs_total", "Jobs of the durable queue, by kind and outcome (done, failed, lost).",
               ["kind", "outcome"])


class JobFailed(Exception):
    """A handler's verdict that the job cannot succeed: it is marked failed, not retried."""


# (job id, payload) -> what happened, one line, stored with the job.
Handler = Callable[[int, dict[str, Any]], str]


@dataclass(frozen=True)
class RunnerSettings:
    threads: int = 2
    poll_seconds: float = 1.0
    lease_seconds: float = 30.0
    # A job whose server died this many times is given up on (a job that kills its worker).
    max_attempts: int = 5


class JobRunner:
    def __init__(self, factory: sessionmaker, handlers: Mapping[str, Handler], settings: RunnerSettings):
        self.factory = factory
        self.handlers = dict(handlers)
        self.settings = settings
        self.lease = timedelta(seconds=settings.lease_seconds)
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        # Named by pid: a runner made before a fork must not count as the child's.
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        for number in range(self.settings.threads):
            thread = threading.Thread(target=self._loop, name=f"gate-jobs-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                ran = self.run_once()
            except Exception as exc:  # noqa: BLE001 -- a database away must not end the runner
                if classify(exc) is not Failure.TRANSIENT:
                    log.exception("job runner %s failed", self.worker)
                ran = False
            if not ran:
                self._stopping.wait(self.settings.poll_seconds)

    def run_once(self) -> bool:
        """Lease one job and run it; False when none was waiting."""
        with self.factory.begin() as session:
            job = jobs.lease_next(session, tuple(self.handlers), self.worker, self.lease)
            if job is None:
                return False
            job_id, kind, payload, attempts = job.id, job.kind, dict(job.payload), job.attempts
        if attempts > self.settings.max_attempts:
            self._finish(job_id, kind, jobs.FAILED, f"given up after {attempts - 1} attempts that did not finish")
            return True
        state, outcome = self._run(job_id, kind, payload)
        self._finish(job_id, kind, state, outcome)
        return True

    def _run(self, job_id: int, kind: str, payload: dict[str, Any]) -> tuple[str, str]:
        done = threading.Event()
        heartbeat = threading.Thread(target=self._renew_until, args=(job_id, done), daemon=True,
                                     name=f"gate-jobs-lease-{job_id}")
        heartbeat.start()
        try:
            return jobs.DONE, self.handlers[kind](job_id, payload)
        except JobFailed as exc:
            return jobs.FAILED, str(exc)
        except Exception as exc:  # noqa: BLE001 -- logged and stored with the job
            log.exception("job %s (%s) failed", job_id, kind)
            return jobs.FAILED, f"{type(exc).__name__}: {exc}"
        finally:
            done.set()
            heartbeat.join()

    def _renew_until(self, job_id: int, done: threading.Event) -> None:
        while not done.wait(self.settings.lease_seconds / 3):
            try:
                with self.factory.begin() as session:
                    if not jobs.renew(session, job_id, self.worker, self.lease):
                        log.error("job %s: %s lost its lease (another server may run it again)", job_id, self.worker)
                        return
            except Exception as exc:  # noqa: BLE001 -- try again at the next beat, within the lease
                log.warning("job %s: could not renew the lease: %s", job_id, exc)

    def _finish(self, job_id: int, kind: str, state: str, outcome: str) -> None:
        with self.factory.begin() as session:
            kept = jobs.finish(session, job_id, self.worker, state, outcome)
        JOBS.labels(kind, state if kept else "lost").inc()
        if not kept:
            log.error("job %s (%s) finished on %s after its lease was lost: %s", job_id, kind, self.worker, outcome)
