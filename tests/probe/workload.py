"""A program with known behaviour for the probe tests. Every path lives under the
directory given with --dir, so the expected feature keys are exact.

  features  open files (r, w, rw), exec /bin/true, connect, bind+listen (inet,
            inet ephemeral, unix), fork children, then exactly --getppid getppid calls
  sibling   runs beside the recorded tree, doing things that must NOT be recorded
  forks     fork --count children one after another (a process-event flood)
  burst     fork --count children that then exit all at once
  wait      wait for --trigger to exist, then fork children that open a file
  prebound  bind TCP --listen-port and a unix socket, wait for --trigger, then a
            forked child listens on the TCP socket and the parent on the unix one
  opens     open each --open PATH=COUNT round-robin (interleaved, so short paths
            follow long ones), then --distinct N distinct missing paths
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import time
from pathlib import Path


def fork_children(count: int, path: Path) -> None:
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            with open(path):
                pass
            os._exit(0)
        os.waitpid(pid, 0)


def features(args) -> None:
    base = Path(args.dir)
    with open(base / "input.txt"):
        pass
    with open(base / "output.log", "w") as out:
        out.write("x")
    with open(base / "both.dat", "r+"):
        pass
    with open(f"/proc/{os.getpid()}/status"):
        pass
    with open(base / "tmpa8f3k2_q", "w"):  # a python-tempfile-shaped name
        pass
    subprocess.run(["/bin/true"], check=True)
    with socket.create_connection(("127.0.0.1", args.connect_port), timeout=5):
        pass
    if args.connect6_port:
        with socket.create_connection(("::1", args.connect6_port), timeout=5):
            pass
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", args.listen_port))
        server.listen(4)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
    unix_path = base / "app.sock"
    unix_path.unlink(missing_ok=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix_server:
        unix_server.bind(str(unix_path))
        unix_server.listen(1)
    fork_children(args.children, base / "child.txt")
    for _ in range(args.getppid):
        os.getppid()


def sibling(args) -> None:
    base = Path(args.dir)
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        with open(base / "sibling.txt"):
            pass
        os.getppid()
        time.sleep(0.01)


def forks(args) -> None:
    for _ in range(args.count):
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)


def burst(args) -> None:
    """--count children wait on one pipe and exit together: a burst of exit events
    faster than any consumer drains a small ring buffer."""
    hold_read, hold_write = os.pipe()
    children = []
    for _ in range(args.count):
        pid = os.fork()
        if pid == 0:
            os.close(hold_write)
            os.read(hold_read, 1)
            os._exit(0)
        children.append(pid)
    os.close(hold_write)
    for pid in children:
        os.waitpid(pid, 0)


def wait_then_fork(args) -> None:
    trigger = Path(args.trigger)
    deadline = time.monotonic() + 60
    while not trigger.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    fork_children(args.children, Path(args.dir) / "late-child.txt")
    subprocess.run(["/bin/true"], check=True)


def _wait_for(trigger: Path) -> None:
    deadline = time.monotonic() + 60
    while not trigger.exists() and time.monotonic() < deadline:
        time.sleep(0.02)


def prebound(args) -> None:
    base = Path(args.dir)
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", args.listen_port))
    unix_path = base / "prebound.sock"
    unix_path.unlink(missing_ok=True)
    unix_server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix_server.bind(str(unix_path))
    _wait_for(Path(args.trigger))
    pid = os.fork()
    if pid == 0:
        server.listen(4)
        os._exit(0)
    os.waitpid(pid, 0)
    unix_server.listen(1)
    server.close()
    unix_server.close()


def _try_open(path: str) -> None:
    try:
        os.close(os.open(path, os.O_RDONLY))
    except OSError:
        pass


def opens(args) -> None:
    plan = [(path, int(count)) for path, count in (item.rsplit("=", 1) for item in args.open)]
    for round_index in range(max((count for _, count in plan), default=0)):
        for path, count in plan:
            if round_index < count:
                _try_open(path)
    for index in range(args.distinct):
        _try_open(f"{args.dir}/distinct-{index}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("features", "sibling", "forks", "burst", "wait", "prebound", "opens"))
    parser.add_argument("--dir", default="/tmp")
    parser.add_argument("--connect-port", type=int, default=0)
    parser.add_argument("--connect6-port", type=int, default=0)
    parser.add_argument("--listen-port", type=int, default=0)
    parser.add_argument("--children", type=int, default=3)
    parser.add_argument("--getppid", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--trigger", default="")
    parser.add_argument("--open", action="append", default=[], metavar="PATH=COUNT")
    parser.add_argument("--distinct", type=int, default=0)
    args = parser.parse_args()
    {"features": features, "sibling": sibling, "forks": forks, "burst": burst, "wait": wait_then_fork,
     "prebound": prebound, "opens": opens}[args.mode](args)


if __name__ == "__main__":
    main()
