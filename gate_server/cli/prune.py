"""`gate-server prune --older-than 30d`: retention for windows, recordings and checks."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone

from gate_server.cli.command_engine import command_engine
from gate_server.cli.errors import UsageError
from gate_server.services.retention import STARTUP_WINDOWS_KEPT, prune
from gate_server.settings import Settings
from gate_contract.durations import parse_duration

EPILOG = """examples:
  gate-server prune --older-than 30d --dry-run     say what would go
  gate-server prune --older-than 30d               delete it (run daily from cron or a systemd timer)
  gate-server prune --older-than 30d --keep-startup-windows 5
                                                   keep fewer old start-up windows per service and version
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "prune", help="delete windows, empty recordings and checks older than a cutoff",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--older-than", required=True, help="age cutoff, e.g. 30d, 12h, 2w")
    parser.add_argument("--dry-run", action="store_true", help="count what would be deleted, delete nothing")
    parser.add_argument("--keep-startup-windows", type=int, default=STARTUP_WINDOWS_KEPT, metavar="N",
                        help="start-up and inventory windows kept past the cutoff, the newest N of each service "
                             f"and version (default {STARTUP_WINDOWS_KEPT})")
    parser.add_argument("--json", action="store_true", help="print the counts as JSON")
    parser.add_argument("--db", help="database URL (default: $GATE_DATABASE_URL or the embedded SQLite file)")
    parser.set_defaults(func=run_prune)


def run_prune(args) -> int:
    try:
        age = parse_duration(args.older_than)
    except ValueError as exc:
        raise UsageError(f"--older-than: {exc}") from None
    if args.keep_startup_windows < 0:
        raise UsageError(f"--keep-startup-windows: expected 0 or more, got {args.keep_startup_windows}")
    cutoff = datetime.now(timezone.utc) - age
    with command_engine(args.db or Settings.from_env().database_url) as engine:
        report = prune(engine, cutoff, dry_run=args.dry_run, startup_windows_kept=args.keep_startup_windows)
    if args.json:
        print(json.dumps(report.to_dict()))
    else:
        verb = "would delete" if args.dry_run else "deleted"
        print(
            f"{verb} {report.windows} windows, "
            f"{report.recordings} empty recordings and {report.checks} checks "
            f"older than {cutoff.isoformat(timespec='seconds')} (start-up windows and inventories are kept, "
            f"at most {args.keep_startup_windows} start-up or inventory windows per service and version)"
        )
    return 0
