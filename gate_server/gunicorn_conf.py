"""gunicorn settings for `gate-server serve` (its flags override these defaults).

Sync workers: a check is CPU-bound (load profiles, statistics), so one request per
process is the honest model; scale with --workers.
"""

import multiprocessing
import os
import shutil

from prometheus_client import multiprocess

from gate_server.settings import Settings

METRICS_DIR_PREFIX = "syscall-gate-metrics-"

bind = "127.0.0.1:8080"
# (2 x cores) + 1 is gunicorn's own rule of thumb, capped so a big host does not open
# dozens of database connections.
workers = min(2 * multiprocessing.cpu_count() + 1, 8)
worker_class = "sync"
# A check over a large profile takes well under a second; 30 s only catches a stuck worker.
timeout = 30
graceful_timeout = 10
keepalive = 5
# Werkzeug already enforces GATE_MAX_REQUEST_BYTES on the body; these bound the headers.
limit_request_line = 8190
limit_request_fields = 100
accesslog = None
errorlog = "-"
loglevel = "info"
# Heartbeat files in RAM, not on a possibly slow disk (gunicorn's advice for containers).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
proc_name = "gate-server"


def post_worker_init(worker):
    # Each worker runs the job queue (webhooks, GitHub reviews) next to its requests.
    # Imported here: `gate-server serve` and gunicorn's master read this file without the app.
    from gate_server.app import job_runner
    job_runner(worker.wsgi).start()


def child_exit(server, worker):
    # Let prometheus_client fold the dead worker's live gauges out of the scrape.
    metrics_dir = Settings.from_env().metrics_multiproc_dir
    if metrics_dir:
        multiprocess.mark_process_dead(worker.pid, metrics_dir)


def on_exit(server):
    # A metrics directory made by `gate-server serve` for this run goes with the master.
    metrics_dir = Settings.from_env().metrics_multiproc_dir
    if metrics_dir and os.path.basename(metrics_dir).startswith(METRICS_DIR_PREFIX):
        shutil.rmtree(metrics_dir, ignore_errors=True)
