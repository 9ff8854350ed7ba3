"""Standing changes warn at least (issue 23): a change a canary keeps up while it
serves — a log switched on, persistence switched on, a new syscall in most windows —
against a baseline attached to the running release, the canary started fresh in front
of the probe as a rollout starts it. Real daemons under the real probe, the real
`gate-server check`; the same program without the change does not warn."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.workloads import nginx_site
from tests.probe.conftest import PYTHON, REPO, free_port_below_ephemeral, gate_check, migrated, read_profile
from tests.support.requirements import unavailable

SERVICE_NAME = "standing-test"
CONFIG = {"sufficiency": {"min_windows": 3, "min_syscalls": 100}}
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"


def record(db_url: str, tmp_path: Path, version: str, role: str, *scope: str, seconds: int = 6) -> None:
    # Its output to a file: a daemon it launched keeps running, and would hold a pipe open.
    with open(tmp_path / f"record-{version}.log", "w+") as output:
        result = subprocess.run(
            [PYTHON, "-m", "host_probe.commands.cli", "record", "--service", SERVICE_NAME, "--version", version,
             "--role", role, "--window", "1s", "--startup", "2s", "--duration", f"{seconds}s", "--db", db_url,
             "--spool", str(tmp_path / "spool"), *scope], stdout=output, stderr=output, cwd=REPO, timeout=120)
        output.seek(0)
        assert result.returncode == 0, output.read()


@contextmanager
def load(request, interval: float = 0.01):
    """`request()` every `interval` s from a thread outside the recorded tree, as a client would."""
    stop = threading.Event()

    def run():
        while not stop.is_set():
            try:
                request()
            except OSError:
                pass  # not serving yet, or stopping
            time.sleep(interval)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def wait_for_port(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while True:
        with socket.socket() as client:
            if client.connect_ex(("127.0.0.1", port)) == 0:
                return
        assert time.monotonic() < deadline and process.poll() is None, "the daemon did not start"
        time.sleep(0.05)


def anomaly_text(verdict: dict) -> list[str]:
    return verdict["reasons"] + [f"{a['change']} {a['kind']} {a['key']}: {a['reason']}" for a in verdict["anomalies"]]


# --- nginx: the access log switched on (the evaluation set's nginx config) -----------------

def nginx_argv(root: Path, port: int, access_log: bool) -> list[str]:
    """nginx (master and 2 workers) with its prefix under `root`; its access log on or off."""
    for sub in ("log", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "nginx.conf").write_text(nginx_site.config_text("logging" if access_log else None, root, port))
    return [NGINX, "-p", str(root), "-e", str(root / "log" / "error.log"), "-c", str(root / "nginx.conf"),
            "-g", "daemon off;"]


def record_attached(db_url: str, tmp_path: Path, argv: list[str], port: int) -> None:
    """v1: the daemon serving before the probe attaches."""
    baseline = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    try:
        wait_for_port(port, baseline)
        record(db_url, tmp_path, "v1", "baseline", "--pid", str(baseline.pid))
    finally:
        baseline.terminate()
        baseline.wait()


@pytest.fixture
def nginx_versions(ebpf, tmp_path):
    """v1: nginx without an access log, attached to while serving; v2: the same started
    fresh with its access log on; v3: the same started fresh without it. Load throughout."""
    if not Path(NGINX).exists():
        unavailable("ebpf", "nginx is not installed (apt-get install nginx-light)")
    db_url = migrated(f"sqlite:///{tmp_path / 'gate.db'}")
    port = free_port_below_ephemeral()
    root = tmp_path / "nginx"
    with load(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/api/", timeout=1).read()):
        record_attached(db_url, tmp_path, nginx_argv(root, port, access_log=False), port)
        for version, access_log in (("v2", True), ("v3", False)):
            try:
                record(db_url, tmp_path, version, "canary", "--", *nginx_argv(root, port, access_log))
            finally:
                stop_by_pid_file(root / "nginx.pid")
    return db_url, root


def test_nginx_access_log_switched_on_warns_for_the_log_and_the_same_nginx_passes(nginx_versions, tmp_path):
    db_url, root = nginx_versions
    access_log = ("file", f"{root}/log/access.log:w")
    canary = read_profile(db_url, "v2", SERVICE_NAME).windows
    assert any(access_log in w.counts for w in canary if w.startup)  # the master opens it at start-up
    verdict = gate_check(db_url, tmp_path, SERVICE_NAME, CONFIG)
    assert verdict["verdict"] in ("warn", "pause"), anomaly_text(verdict)
    assert [a["change"] for a in verdict["anomalies"] if (a["kind"], a["key"]) == access_log] == ["new"], \
        anomaly_text(verdict)
    honest = gate_check(db_url, tmp_path, SERVICE_NAME, CONFIG, canary="v3")
    assert honest["verdict"] == "pass", anomaly_text(honest)


# --- redis: persistence switched on (appendonly: fdatasync every second) ----------------

def redis_argv(root: Path, port: int, appendonly: bool) -> list[str]:
    root.mkdir(exist_ok=True)
    return [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(root),
            "--pidfile", str(root / "redis.pid"), "--appendonly", "yes" if appendonly else "no",
            "--appendfsync", "everysec"]


class RedisClient:
    """SETs over one connection, opened again when the server changes."""

    def __init__(self, port: int):
        self.port, self.connection = port, None

    def set(self) -> None:
        try:
            if self.connection is None:
                self.connection = socket.create_connection(("127.0.0.1", self.port), timeout=1)
            self.connection.sendall(b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n")
            if not self.connection.recv(64):
                raise OSError("closed")
        except OSError:
            if self.connection is not None:
                self.connection.close()
            self.connection = None
            raise


def stop_by_pid_file(pid_file: Path) -> None:
    """The probe leaves a command it launched running when its recording ends."""
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_redis_appendonly_switched_on_warns(ebpf, tmp_path):
    if not Path(REDIS).exists():
        unavailable("ebpf", "redis-server is not installed (apt-get install redis-server)")
    db_url = migrated(f"sqlite:///{tmp_path / 'gate.db'}")
    port = free_port_below_ephemeral()
    root = tmp_path / "redis"
    with load(RedisClient(port).set, interval=0.005):
        record_attached(db_url, tmp_path, redis_argv(root, port, appendonly=False), port)
        try:
            record(db_url, tmp_path, "v2", "canary", "--", *redis_argv(root, port, appendonly=True))
        finally:
            stop_by_pid_file(root / "redis.pid")
    verdict = gate_check(db_url, tmp_path, SERVICE_NAME, CONFIG)
    assert verdict["verdict"] in ("warn", "pause"), anomaly_text(verdict)
    (fdatasync,) = [a for a in verdict["anomalies"] if (a["kind"], a["key"]) == ("syscall", "fdatasync")]
    # fsync every second from the start-up on: in most of the canary's windows, never in the baseline's
    assert fdatasync["change"] == "new" and fdatasync["canary_windows_seen"] >= 4, fdatasync
