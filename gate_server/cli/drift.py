"""`gate-server drift`: has a running version's behaviour moved against its own past?

Exit codes as `gate-server check`: 0 pass or warn, 1 pause (it drifted), 2 bad input
or an unusable database, 3 inconclusive (too little observation in one of the periods).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone

from sqlalchemy.orm import Session

from gate_contract.rollout import rollout_step
from gate_server.cli.check import EXIT_CODES, anomaly_lines
from gate_server.cli.command_engine import command_engine
from gate_server.cli.errors import UsageError
from gate_server.notify import delivery
from gate_contract.durations import parse_duration
from gate_server.settings import Settings

EPILOG = """examples:
  gate-server drift --service web --version v1                      last hour against the 7 days before
  gate-server drift --service web --version v1 --recent 1d --reference 7d --config .github/syscall-gate.yml
Run it from cron or a systemd timer for versions that are not being deployed.
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "drift", help="judge a version's recent windows against its own older windows",
        description="Judge a version's recent windows against the windows of the period just before them, "
                    "with the same judge and thresholds as a check. Exit 0 pass/warn, 1 pause, 2 bad input, "
                    "3 inconclusive.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--service", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--recent", default="1h", help="the recent period, judged as the canary (default 1h)")
    parser.add_argument("--reference", default="7d",
                        help="the period before the recent one, judged as the baseline (default 7d)")
    parser.add_argument("--config", metavar="FILE", help="threshold config YAML (e.g. .github/syscall-gate.yml)")
    parser.add_argument("--notify", action="store_true",
                        help="POST a pause (and warn, with GATE_WEBHOOK_ON_WARN) to GATE_WEBHOOK_URLS")
    parser.add_argument("--json", action="store_true", help="print the verdict document as JSON")
    parser.add_argument("--db", help="database URL (default: $GATE_DATABASE_URL or the embedded SQLite file)")
    parser.set_defaults(func=run)


def run(args) -> int:
    # The judge (scipy) loads only for this command, not for every `gate-server` call.
    from gate_server.analysis.config import ConfigError, GateConfig
    from gate_server.config_file import load_config_file
    from gate_server.services.drift import DriftPeriods, judge_drift

    try:
        recent, reference = parse_duration(args.recent), parse_duration(args.reference)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        config = load_config_file(args.config) if args.config else GateConfig()
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    periods = DriftPeriods.ending_at(datetime.now(timezone.utc), recent, reference)
    settings = Settings.from_env()
    with command_engine(args.db or settings.database_url) as engine, Session(engine) as session:
        document = judge_drift(session, args.service, args.version, config, periods)
    print(json.dumps(document, indent=2) if args.json else report(document, args))
    if args.notify and not delivery.send_now(document, settings):
        print("gate-server: warning: a webhook did not accept the drift notification (see the log)",
              file=sys.stderr)
    return EXIT_CODES[rollout_step(document["verdict"])]


def report(document: dict, args) -> str:
    lines = [f"{document['service']} {document['version']}: last {args.recent} against the {args.reference} "
             f"before: {document['verdict'].upper()} (score {float(document.get('score', 0)):.0f}/100)"]
    for side, label in (("baseline", "reference"), ("canary", "recent")):
        seen = (document.get("observation") or {}).get(side) or {}
        lines.append(f"  {label:<9} {seen.get('windows', 0)} windows, {seen.get('syscalls', 0):,} syscalls")
    lines += anomaly_lines(document)  # as `gate-server check` shows them: a group one entry
    lines += [f"  - {reason}" for reason in document.get("reasons") or []]
    return "\n".join(lines)
