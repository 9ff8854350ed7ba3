"""The behaviour changes injected into canaries, one per canary.

The environment variable SYSCALL_GATE_EVAL_INJECT names the change; a process
without it is the unchanged (v1) code. The change happens on every
INJECT_EVERY-th request of a process -- realistic code paths, not a one-off at
start-up, which a stability-filtering judge rightly ignores.

Everything stays on this host and inside EVAL_ROOT: the "outbound" peer and the
"listening" port are loopback addresses, the "exfiltration" writes go to a
dedicated directory, and the sensitive read only reads.
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
from pathlib import Path

ENV_VAR = "SYSCALL_GATE_EVAL_INJECT"
# Not under /tmp or /var/tmp: the judge treats those as scratch space where any
# write is churn, and a production service keeps its data in a fixed home.
EVAL_ROOT = Path("/srv/syscall-gate-eval")
EXFIL_DIR = EVAL_ROOT / "exfil"
INJECT_EVERY = 10

# A new peer on another loopback address (127/8 is all loopback on Linux); the
# recorder runs a listener there for baselines and canaries alike.
OUTBOUND_PEER = ("127.0.0.2", 18999)
DEBUG_LISTEN = ("127.0.0.1", 18998)
SENSITIVE_PATH = "/etc/shadow"
EXEC_COMMAND = ["/bin/sh", "-c", "uname -a > /dev/null"]

INJECTIONS = ("exec", "sensitive-read", "outbound", "listen", "write")


def selected() -> str | None:
    name = os.environ.get(ENV_VAR) or None
    if name is not None and name not in INJECTIONS:
        raise SystemExit(f"{ENV_VAR}={name!r} is not one of {', '.join(INJECTIONS)}")
    return name


def run_exec() -> None:
    subprocess.run(EXEC_COMMAND, check=False)


def run_sensitive_read() -> None:
    with open(SENSITIVE_PATH, "rb") as handle:
        handle.read(4096)


def run_outbound() -> None:
    try:
        with socket.create_connection(OUTBOUND_PEER, timeout=1) as sock:
            sock.sendall(b"hello\n")
    except OSError:
        pass


def run_listen() -> None:
    # A "callback" listener opened and closed per request; two workers may race
    # for the port, which is fine: the attempt is the behaviour.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(DEBUG_LISTEN)
            sock.listen(1)
        except OSError:
            pass


def run_write(service: str) -> None:
    EXFIL_DIR.mkdir(parents=True, exist_ok=True)
    with open(EXFIL_DIR / f"{service}-dump.bin", "ab") as handle:
        handle.write(os.urandom(256))


class Injector:
    """Call `maybe_inject()` once per request; it acts on every INJECT_EVERY-th."""

    def __init__(self, service: str, injection: str | None = None):
        self.service = service
        self.injection = injection if injection is not None else selected()
        self._requests = itertools.count(1)

    def maybe_inject(self) -> None:
        if self.injection is None or next(self._requests) % INJECT_EVERY:
            return
        if self.injection == "write":
            run_write(self.service)
        else:
            {"exec": run_exec, "sensitive-read": run_sensitive_read,
             "outbound": run_outbound, "listen": run_listen}[self.injection]()
