"""`gate-server export-seccomp`: the version's stable syscalls as an OCI seccomp profile."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sqlalchemy.orm import Session

from gate_server.cli.command_engine import command_engine
from gate_server.cli.errors import UsageError
from gate_server.services import seccomp
from gate_server.settings import Settings

EPILOG = """examples:
  gate-server export-seccomp --service web --version v1 --output web-v1.json
  gate-server export-seccomp --service web --version v1 --min-fraction 0.05

Use it with: docker run --security-opt seccomp=web-v1.json ..., or in Kubernetes as a
securityContext.seccompProfile of type Localhost. Review the list before enforcing it:
a syscall the service makes only on a path that was never exercised while it was
recorded is not in it.
"""


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 < value <= 1.0:
        raise UsageError(f"--min-fraction must be a number in (0, 1], got {text!r}")
    return value


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export-seccomp", help="write an OCI seccomp profile of a version's stable syscalls",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--service", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--output", "-o", help="file to write (default: standard output)")
    parser.add_argument(
        "--min-fraction", default="0.01",
        help="allow a syscall seen in at least this fraction of the version's windows (default 0.01)",
    )
    parser.add_argument("--db", help="database URL (default: $GATE_DATABASE_URL or the embedded SQLite file)")
    parser.set_defaults(func=export_seccomp)


def export_seccomp(args) -> int:
    min_fraction = _fraction(args.min_fraction)
    with command_engine(args.db or Settings.from_env().database_url) as engine, Session(engine) as session:
        usage = seccomp.syscall_usage(session, args.service, args.version)
    if usage.windows == 0:
        raise UsageError(f"no windows recorded for service {args.service!r} version {args.version!r}")
    allowed = usage.stable(min_fraction)
    document = json.dumps(seccomp.oci_profile(allowed), indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(document)
    else:
        sys.stdout.write(document)
    excluded = usage.excluded(min_fraction)
    print(
        f"{len(allowed)} syscalls allowed from {usage.windows} windows "
        f"(+{len(seccomp.ALWAYS_ALLOWED)} always allowed); {len(excluded)} left out as one-offs"
        + (f": {', '.join(excluded)}" if excluded else ""),
        file=sys.stderr,
    )
    return 0
