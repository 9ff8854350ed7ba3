"""The real gate server, run by `gate-server serve` (gunicorn) in a subprocess, for
API tests and the check-latency benchmark."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from tests.support.ports import free_port


class ServerFailed(RuntimeError):
    pass


class LiveServer:
    def __init__(self, database_url: str, *, workers: int = 2, env: dict[str, str] | None = None):
        self.database_url = database_url
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = Path(tempfile.mkdtemp(prefix="syscall-gate-server-"))
        self.log_path = self.dir / "server.log"
        self.extra_env = env or {}
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        return [sys.executable, "-m", "gate_server.cli", "serve", "--bind", f"127.0.0.1:{self.port}",
                "--workers", str(self.workers), "--access-log", "-"]

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        env.update(GATE_DATABASE_URL=self.database_url, GATE_DATA_DIR=str(self.dir / "data"))
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 60) -> "LiveServer":
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.command(), env=self.environment(), stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerFailed(f"gate-server serve exited {self.process.returncode}: {self.log()[-2000:]}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise ServerFailed(f"gate-server serve did not answer /healthz in {timeout}s: {self.log()[-2000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def halt(self) -> None:
        """Stop the server, keeping its port and files: start() brings it back."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # gunicorn's graceful shutdown
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "LiveServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
