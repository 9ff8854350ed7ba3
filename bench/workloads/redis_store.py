"""redis-server as a cache: the "redis" workload (Debian's redis-server).

The load is a small loopback client speaking RESP: SET and GET of a few
thousand keys at a paced rate, from one connection (as an app's pool does).
A canary's release is its configuration: `appendonly yes`, the persistence
option that opens the append-only file at start and writes it all run.
"""

from __future__ import annotations

import random
import shutil
import socket
import threading
import time

from bench.workloads.inject import EVAL_ROOT

REDIS_ROOT = ROOT = EVAL_ROOT / "redis"
REDIS_PORT = 18440
INJECTIONS = ("logging",)  # persistence switched on: the append-only file
BATCH_SECONDS = 0.01  # the client sends its commands in 10 ms ticks


def prepare(injection: str | None) -> None:
    shutil.rmtree(REDIS_ROOT, ignore_errors=True)
    REDIS_ROOT.mkdir(parents=True)
    persistence = "appendonly yes\nappendfsync everysec\n" if injection == "logging" else "appendonly no\n"
    (REDIS_ROOT / "redis.conf").write_text(
        f"bind 127.0.0.1\nport {REDIS_PORT}\ndaemonize no\ndir {REDIS_ROOT}\nlogfile {REDIS_ROOT}/redis.log\n"
        f'save ""\n{persistence}')


def command() -> list[str]:
    return [shutil.which("redis-server") or "/usr/bin/redis-server", str(REDIS_ROOT / "redis.conf")]


def _resp(*parts: str) -> bytes:
    return f"*{len(parts)}\r\n".encode() + b"".join(
        f"${len(p.encode())}\r\n{p}\r\n".encode() for p in parts)


def wait_ready(timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", REDIS_PORT), timeout=1) as sock:
                sock.sendall(_resp("PING"))
                if sock.recv(64).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"redis on 127.0.0.1:{REDIS_PORT} did not answer PING within {timeout:.0f}s")


class RedisLoad:
    """SET/GET (1:3) at `rate` commands/s, each command's reply read before the next."""

    def __init__(self, rate: float, seed: int = 0):
        self.rate = rate
        self.stopping = threading.Event()
        self.ok = self.failed = 0
        self.rng = random.Random(seed)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        sock = socket.create_connection(("127.0.0.1", REDIS_PORT), timeout=5)
        reader = sock.makefile("rb")
        owed = 0.0
        try:
            while not self.stopping.wait(BATCH_SECONDS):
                owed += self.rate * BATCH_SECONDS
                while owed >= 1:
                    owed -= 1
                    key = f"item:{self.rng.randint(1, 5000)}"
                    command = (_resp("SET", key, str(self.rng.random())) if self.rng.random() < 0.25
                               else _resp("GET", key))
                    sock.sendall(command)
                    line = reader.readline()
                    if line.startswith(b"$") and line[1:2] != b"-":
                        reader.readline()
                    if line[:1] in (b"+", b"$"):
                        self.ok += 1
                    else:
                        self.failed += 1
        except OSError:
            self.failed += 1
        finally:
            sock.close()

    def start(self) -> "RedisLoad":
        self.thread.start()
        return self

    def stop(self) -> dict[str, int]:
        self.stopping.set()
        self.thread.join(timeout=10)
        return {"commands_ok": self.ok, "commands_failed": self.failed}
