"""`gate-server policy set|unset|show`: floors the repo's config may tighten, never loosen.

Every change is audited with the OS user who ran the command. docs/config.md ("Server
policy") lists the floors and what tighter means for each.
"""

from __future__ import annotations

import argparse
import json

from gate_server.analysis.policy import FLOORS, GLOBAL
from gate_server.cli.command_engine import cli_actor, in_transaction
from gate_server.cli.errors import UsageError
from gate_server.services import policy
from gate_server.settings import Settings

EPILOG = """examples:
  gate-server policy set limits.max_new_execs 0
  gate-server policy set --service shop sufficiency.min_windows 5
  gate-server policy set forbid_allow.execs '["*[*]*"]'
  gate-server policy show --service shop
  gate-server policy unset --service shop sufficiency.min_windows
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser("policy", help="set, unset and show the server's threshold floors")
    sub = parser.add_subparsers(dest="policy_command", required=True, metavar="ACTION")
    setter = sub.add_parser("set", help="set a floor (audited)", epilog=EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    setter.add_argument("field", choices=FLOORS, metavar="FIELD", help=f"one of: {', '.join(FLOORS)}")
    setter.add_argument("value", metavar="VALUE", help="JSON: 0, 5, 0.02, true, '[\"/opt/vault/*\"]'")
    setter.set_defaults(func=set_floor)
    unsetter = sub.add_parser("unset", help="remove a floor (audited)")
    unsetter.add_argument("field", choices=FLOORS, metavar="FIELD")
    unsetter.set_defaults(func=unset_floor)
    show = sub.add_parser("show", help="print the floors and the audit trail")
    show.add_argument("--json", action="store_true", help="print the policy document")
    show.set_defaults(func=show_policy)
    for command in (setter, unsetter, show):
        command.add_argument("--service", default=GLOBAL, help="the service (default: every service)")
        command.add_argument("--db", help="database URL (default: $GATE_DATABASE_URL or the embedded SQLite file)")


def _in_session(args, work):
    return in_transaction(args.db or Settings.from_env().database_url, work)


def _scope(service: str) -> str:
    return f"service {service}" if service else "every service"


def set_floor(args) -> int:
    try:
        value = json.loads(args.value)
    except json.JSONDecodeError:
        raise UsageError(f"{args.field}: the value must be JSON (got {args.value!r}; a list is '[\"/a\", \"/b\"]')")
    old = _in_session(args, lambda s: policy.set_floor(s, field=args.field, value=value, actor=cli_actor(),
                                                         service=args.service))
    print(f"{args.field} floor for {_scope(args.service)}: {json.dumps(old)} -> {json.dumps(value)}")
    return 0


def unset_floor(args) -> int:
    old = _in_session(args, lambda s: policy.unset_floor(s, field=args.field, actor=cli_actor(), service=args.service))
    print(f"{args.field} floor for {_scope(args.service)} removed (was {json.dumps(old)})")
    return 0


def show_policy(args) -> int:
    document = _in_session(args, lambda s: policy.describe(s, args.service or None))
    if args.json:
        print(json.dumps(document, indent=2))
        return 0
    print(f"{'SERVICE':<20}{'FIELD':<36}{'VALUE':<24}{'SET BY':<24}SET AT")
    for floor in document["floors"]:
        print(f"{floor['service'] or '*':<20}{floor['field']:<36}{json.dumps(floor['value']):<24}"
              f"{floor['set_by']:<24}{floor['set_at'][:16]}")
    print("\naudit (newest first):")
    for entry in document["audit"]:
        print(f"{entry['at'][:19]}  {entry['actor']}  {entry['action']} {entry['service'] or '*'} {entry['field']}: "
              f"{json.dumps(entry['old_value'])} -> {json.dumps(entry['new_value'])}")
    return 0
