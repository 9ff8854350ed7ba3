"""An HTTP load generator: paced requests from a few threads, one connection per
request (as browsers behind a proxy look to a sync gunicorn worker). It runs in
the recorder's process, outside the recorded service's process tree."""

from __future__ import annotations

import http.client
import random
import threading
import time
from typing import Callable

from bench.workloads.inject import HOOK_PATH


class HttpLoad:
    """GET `choose_path(rng)` from host:port at `rate` requests/s in total."""

    def __init__(self, host: str, port: int, choose_path: Callable[[random.Random], str],
                 rate: float, threads: int = 4, seed: int = 0, hook_after: float | None = None):
        self.host, self.port = host, port
        self.hook_after = hook_after
        self.choose_path = choose_path
        self.interval = threads / rate
        self.threads = [threading.Thread(target=self._run, args=(seed + i,), daemon=True)
                        for i in range(threads)]
        if hook_after is not None:
            self.threads.append(threading.Thread(target=self._hook, daemon=True))
        self.stopping = threading.Event()
        self.ok = self.failed = 0
        self._lock = threading.Lock()

    def _request(self, path: str) -> bool:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=5)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            return response.status < 500
        except OSError:
            return False
        finally:
            connection.close()

    def _run(self, seed: int) -> None:
        rng = random.Random(seed)
        next_at = time.monotonic() + rng.random() * self.interval
        while not self.stopping.is_set():
            delay = next_at - time.monotonic()
            if delay > 0 and self.stopping.wait(delay):
                break
            # Poisson-ish arrivals: real traffic is not a metronome.
            next_at = max(next_at, time.monotonic()) + rng.expovariate(1 / self.interval)
            good = self._request(self.choose_path(rng))
            with self._lock:
                if good:
                    self.ok += 1
                else:
                    self.failed += 1

    def _hook(self) -> None:
        # The one request of the run that a "once" change acts on (inject.HOOK_PATH).
        if not self.stopping.wait(self.hook_after):
            self._request(HOOK_PATH)

    def start(self) -> "HttpLoad":
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> dict[str, int]:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=10)
        return {"requests_ok": self.ok, "requests_failed": self.failed}


def wait_for_http(host: str, port: int, path: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection(host, port, timeout=2)
            connection.request("GET", path)
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"http://{host}:{port}{path} did not answer 200 within {timeout:.0f}s")
