"""`gate-server baselines promote|show`: the version a service's checks name as `current`,
and how stable it is. Promotions are audited with the OS user who ran the command."""

from __future__ import annotations

import argparse
import json

from gate_server.cli.command_engine import cli_actor, in_transaction
from gate_server.services import baselines
from gate_server.settings import Settings

EPILOG = """examples:
  gate-server baselines promote --service web --version v42 --reason "v42 rolled out to every stage"
  gate-server baselines show --service web
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser("baselines", help="promote a version to a service's baseline, show it")
    sub = parser.add_subparsers(dest="baselines_command", required=True, metavar="ACTION")
    promote = sub.add_parser("promote", help="make VERSION the baseline `current` names (audited)", epilog=EPILOG,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    promote.add_argument("--version", required=True, help="a recorded version of the service")
    promote.add_argument("--reason", required=True, help="why, in a sentence")
    promote.set_defaults(func=promote_version)
    show = sub.add_parser("show", help="the promoted baseline and its stability")
    show.set_defaults(func=show_baseline)
    for command in (promote, show):
        command.add_argument("--service", required=True)
        command.add_argument("--json", action="store_true", help="print the document")
        command.add_argument("--db", help="database URL (default: $GATE_DATABASE_URL or the embedded SQLite file)")


def _url(args) -> str:
    return args.db or Settings.from_env().database_url


def promote_version(args) -> int:
    promoted = in_transaction(_url(args), lambda session: baselines.promote(
        session, args.service, args.version, args.reason, cli_actor()))
    if args.json:
        print(json.dumps(promoted))
    else:
        was = f" (was {promoted['previous_version']})" if promoted["previous_version"] else ""
        print(f"{promoted['service']}: baseline is now {promoted['version']}{was}, promoted by {promoted['by']}")
    return 0


def show_baseline(args) -> int:
    document = in_transaction(_url(args), lambda session: baselines.stability(session, args.service))
    if args.json:
        print(json.dumps(document, indent=2))
        return 0
    if document["version"] is None:
        print(f"{args.service}: no version promoted (checks must name their baseline version)")
        return 0
    checks = document["checks"]
    print(f"{args.service}: baseline {document['version']}, promoted {document['promotion']['at']} by "
          f"{document['promotion']['by']}; {document['recordings']} recording(s), {document['windows']} windows; "
          f"{'changed' if document['changed_recently'] else 'unchanged'} in the last {document['recent_days']} days")
    if checks["count"]:
        print(f"last {checks['count']} checks: {checks['verdicts']}, {checks['verdict_changes']} verdict change(s), "
              f"score {checks['score_min']:g}-{checks['score_max']:g} (mean {checks['score_mean']:g})")
    return 0
