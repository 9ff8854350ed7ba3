"""The behaviour changes injected into canaries, one per canary.

The environment variable SYSCALL_GATE_EVAL_INJECT names the change; a process
without it is the unchanged (v1) code. Two rhythms:

- a *repeated* change happens on every INJECT_EVERY-th request of a process
  (realistic code paths, not a start-up one-off);
- a *once* change happens on the one request to HOOK_PATH that the load generator
  sends once per run, to baselines and canaries alike (the unchanged code serves
  it as any page): once in the whole run, whatever the number of workers.

A `logging` change opens a log file when the process starts, keeps it open and
writes a line per request (a debug log switched on).

Everything stays on this host and inside EVAL_ROOT: the "outbound" peer and the
"listening" port are loopback addresses, the "exfiltration" writes go to a
dedicated directory, and the sensitive reads only read.
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
HOOK_PATH = "/hook"  # requested once per run by the load generator

# A new peer on another loopback address (127/8 is all loopback on Linux); the
# recorder runs a listener there for baselines and canaries alike.
OUTBOUND_PEER = ("127.0.0.2", 18999)
DEBUG_LISTEN = ("127.0.0.1", 18998)
SENSITIVE_PATH = "/etc/shadow"
EXEC_COMMAND = ["/bin/sh", "-c", "uname -a > /dev/null"]
# A symlink to the secret, made by `prepare_symlink` outside the recorded tree.
SENSITIVE_LINK = EVAL_ROOT / "links" / "innocent.txt"
# A working directory two levels deep, so "../../etc/shadow" is /etc/shadow.
RELATIVE_CWD = EVAL_ROOT


def _read_fd(fd: int) -> None:
    try:
        os.read(fd, 4096)
    finally:
        os.close(fd)


def _open_dirfd() -> None:
    etc = os.open("/etc", os.O_RDONLY | os.O_DIRECTORY)
    try:
        _read_fd(os.open("shadow", os.O_RDONLY, dir_fd=etc))
    finally:
        os.close(etc)


def _open_relative() -> None:
    os.chdir(RELATIVE_CWD)
    _read_fd(os.open("../../etc/shadow", os.O_RDONLY))


# Each spelling of the same secret read (issue 13): the probe must store /etc/shadow.
SPELLINGS = {
    "double-slash": lambda: _read_fd(os.open("/etc//shadow", os.O_RDONLY)),
    "dot": lambda: _read_fd(os.open("/etc/./shadow", os.O_RDONLY)),
    "relative": _open_relative,
    "dirfd": _open_dirfd,
    "proc-root": lambda: _read_fd(os.open("/proc/self/root/etc/shadow", os.O_RDONLY)),
    "symlink": lambda: _read_fd(os.open(SENSITIVE_LINK, os.O_RDONLY)),
}


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


REPEATED = {"exec": run_exec, "sensitive-read": run_sensitive_read, "outbound": run_outbound,
            "listen": run_listen}
ONCE = {"exec-once": run_exec, "outbound-once": run_outbound,
        **{f"sensitive-{name}": spelling for name, spelling in SPELLINGS.items()}}
# Every change a canary of some workload carries; each workload says which it can carry.
INJECTIONS = (*REPEATED, "write", *ONCE, "logging")


def selected() -> str | None:
    name = os.environ.get(ENV_VAR) or None
    if name is not None and name not in INJECTIONS:
        raise SystemExit(f"{ENV_VAR}={name!r} is not one of {', '.join(INJECTIONS)}")
    return name


def prepare_symlink() -> None:
    SENSITIVE_LINK.parent.mkdir(parents=True, exist_ok=True)
    SENSITIVE_LINK.unlink(missing_ok=True)
    SENSITIVE_LINK.symlink_to(SENSITIVE_PATH)


class Injector:
    """Call `maybe_inject()` once per request and `on_hook()` for HOOK_PATH; `log_line()`
    writes to the debug log when the `logging` change is on."""

    def __init__(self, service: str, debug_log: Path | None = None, injection: str | None = None):
        self.service = service
        self.injection = injection if injection is not None else selected()
        self._requests = itertools.count(1)
        self._debug_log_path = debug_log
        self._debug_log = None

    def log_line(self, line: str) -> None:
        if self.injection != "logging" or self._debug_log_path is None:
            return
        if self._debug_log is None:  # opened once per process, then held open
            self._debug_log = open(self._debug_log_path, "a", buffering=1)
        self._debug_log.write(line)

    def on_hook(self) -> None:
        if self.injection in ONCE:
            ONCE[self.injection]()

    def maybe_inject(self) -> None:
        if self.injection not in (*REPEATED, "write") or next(self._requests) % INJECT_EVERY:
            return
        if self.injection == "write":
            run_write(self.service)
        else:
            REPEATED[self.injection]()
