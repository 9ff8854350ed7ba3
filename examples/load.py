"""Generated traffic for the sample service: bounded in time and count, loopback only."""

from __future__ import annotations

import random
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field

from examples.sample_service import CATALOGUE_SIZE

# The request mix of a catalogue service: mostly item look-ups, some reports.
REPORT_SHARE = 0.2
HEALTH_SHARE = 0.05


@dataclass
class LoadResult:
    requests: int = 0
    errors: int = 0
    statuses: Counter = field(default_factory=Counter)
    versions: Counter = field(default_factory=Counter)  # which instance answered (X-Shop-Version)
    seconds: float = 0.0

    def summary(self) -> str:
        served = ", ".join(f"{v} {n}" for v, n in sorted(self.versions.items()))
        rate = self.requests / self.seconds if self.seconds else 0.0
        return (f"{self.requests} requests in {self.seconds:.0f} s ({rate:.0f}/s), "
                f"{self.errors} errors; served by {served or 'nobody'}")


def pick_path(rng: random.Random) -> str:
    roll = rng.random()
    if roll < REPORT_SHARE:
        return "/report"
    if roll < REPORT_SHARE + HEALTH_SHARE:
        return "/healthz"
    return f"/items/{rng.randint(1, CATALOGUE_SIZE)}"


class LoadGenerator:
    """Worker threads sending GETs to http://127.0.0.1:<port> at a paced total rate."""

    def __init__(self, port: int, rate_per_second: float, seconds: float,
                 max_requests: int = 100_000, workers: int = 4, seed: int = 7):
        self.base_url = f"http://127.0.0.1:{port}"
        self.interval = workers / rate_per_second  # each worker's pause between requests
        self.deadline = time.monotonic() + seconds
        self.max_requests = max_requests
        self.result = LoadResult()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._threads = [threading.Thread(target=self._work, args=(random.Random(seed + i),),
                                          name=f"load-{i}", daemon=True) for i in range(workers)]

    def start(self) -> "LoadGenerator":
        self._started = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> LoadResult:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self.result.seconds = time.monotonic() - self._started
        return self.result

    def wait(self) -> LoadResult:
        for thread in self._threads:
            thread.join()
        return self.stop()

    def _claim_request(self) -> bool:
        with self._lock:
            if self.result.requests >= self.max_requests:
                return False
            self.result.requests += 1
            return True

    def _work(self, rng: random.Random) -> None:
        while not self._stop.is_set() and time.monotonic() < self.deadline and self._claim_request():
            started = time.monotonic()
            status, version = self._get(pick_path(rng))
            with self._lock:
                self.result.statuses[status] += 1
                if version:
                    self.result.versions[version] += 1
                if status == 0 or status >= 500:
                    self.result.errors += 1
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def _get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.base_url + path, timeout=5) as response:
                response.read()
                return response.status, response.headers.get("X-Shop-Version", "")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get("X-Shop-Version", "")
        except (urllib.error.URLError, OSError):
            return 0, ""
