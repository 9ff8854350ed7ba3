"""`gate-server checks decide`: a person approves or rejects a paused, warned or
inconclusive check, with a reason (audited with the OS user who ran it)."""

from __future__ import annotations

import argparse
import json

from gate_server.cli.command_engine import cli_actor, in_transaction
from gate_server.services import decisions
from gate_contract.rollout import decided_by
from gate_server.settings import Settings

EPILOG = """examples:
  gate-server checks decide 42 --approve --reason "the new exec is the image converter"
  gate-server checks decide 42 --reject --reason "reads /etc/shadow: not in this release"
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser("checks", help="decide on stored checks")
    sub = parser.add_subparsers(dest="checks_command", required=True, metavar="ACTION")
    decide = sub.add_parser("decide", help="approve or reject a paused, warned or inconclusive check (audited)",
                            epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    decide.add_argument("check_id", type=int, metavar="CHECK_ID")
    choice = decide.add_mutually_exclusive_group(required=True)
    choice.add_argument("--approve", action="store_const", const="approve", dest="decision",
                        help="let the rollout proceed")
    choice.add_argument("--reject", action="store_const", const="reject", dest="decision",
                        help="stop the rollout")
    decide.add_argument("--reason", required=True, help="why, in a sentence (stored with who decided)")
    decide.add_argument("--json", action="store_true", help="print the decision object")
    decide.add_argument("--db", help="database URL (default: $GATE_DATABASE_URL or the embedded SQLite file)")
    decide.set_defaults(func=decide_check)


def decide_check(args) -> int:
    decision = in_transaction(args.db or Settings.from_env().database_url, lambda session: decisions.decide(
        session, args.check_id, decision=args.decision, reason=args.reason, actor=cli_actor()))
    if args.json:
        print(json.dumps(decision))
    else:
        print(f"check {decision['check_id']}: {decision['decision']} by {decided_by(decision)} at {decision['at']}: "
              f"{decision['reason']}")
    return 0
