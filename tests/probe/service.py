"""A small long-running service, as production runs one: at start it opens its config
(kept open), its log (held open, appended to all run) and listens on a fixed port; then
it serves: accepts, reads its data file, writes a log line. `--extra-port P` also listens
on P at start; `--secret` also reads /etc/shadow at start; `--lookup SOCKET` connects
to a unix socket once at start, as glibc's first name-service lookup tries nscd's; `--debug-log` also opens
service-debug.log at start and writes it all run (a log switched on); `--lazy-log S` opens
it only S seconds after start, at the first line it writes, as a logger that opens its file
on first use does, then writes it all run; `--request-ids` draws a random id per request
(os.urandom: a getrandom syscall in every window); `--once-at S --task-file P` opens P
read-write once, S seconds after start, as a periodic task of a long-running daemon does
(PostgreSQL's postmaster re-opens postmaster.pid once a minute). It writes READY when serving."""

from __future__ import annotations

import argparse
import os
import socket
import time
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--dir", required=True)
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--extra-port", type=int, default=0)
parser.add_argument("--secret", action="store_true")
parser.add_argument("--debug-log", action="store_true")
parser.add_argument("--lazy-log", type=float, default=0.0)
parser.add_argument("--request-ids", action="store_true")
parser.add_argument("--lookup", default="")
parser.add_argument("--once-at", type=float, default=0.0)
parser.add_argument("--task-file", default="")
parser.add_argument("--seconds", type=float, default=600)
args = parser.parse_args()
work = Path(args.dir)

config = open(work / "service.conf")
config.read()
log = open(work / "service.log", "a")
debug_log = open(work / "service-debug.log", "a", buffering=1) if args.debug_log else None
listeners = [socket.create_server(("127.0.0.1", args.port))]
if args.extra_port:
    listeners.append(socket.create_server(("127.0.0.1", args.extra_port)))
if args.secret:
    try:
        open("/etc/shadow").close()
    except OSError:
        pass
if args.lookup:
    with socket.socket(socket.AF_UNIX) as lookup:
        try:
            lookup.connect(args.lookup)
        except OSError:
            pass
for listener in listeners:
    listener.settimeout(0.05)
(work / "READY").write_text("serving\n")
started = time.monotonic()
deadline = started + args.seconds
while time.monotonic() < deadline:
    try:
        connection, _ = listeners[0].accept()
        connection.close()
    except socket.timeout:
        pass
    (work / "service.data").read_text()
    log.write("served\n")
    log.flush()
    if args.lazy_log and debug_log is None and time.monotonic() - started >= args.lazy_log:
        debug_log = open(work / "service-debug.log", "a", buffering=1)
    if debug_log:
        debug_log.write("debug: served\n")
    if args.request_ids:
        os.urandom(8)
    if args.once_at and time.monotonic() - started >= args.once_at:
        args.once_at = 0.0
        with open(args.task_file, "a+"):
            pass
