"""`gate-server tokens create|list|revoke`: API tokens, shown once, stored hashed."""

from __future__ import annotations

import sys

from gate_server.cli.command_engine import cli_actor, in_transaction
from gate_server.services import audit, tokens
from gate_server.settings import Settings
from gate_contract.records import ROLES


def register(subparsers) -> None:
    parser = subparsers.add_parser("tokens", help="create, list and revoke API tokens")
    sub = parser.add_subparsers(dest="tokens_command", required=True, metavar="ACTION")
    create = sub.add_parser("create", help="create a token and print its secret once")
    create.add_argument("--service", action="append", default=[], metavar="NAME",
                        help="a service the token may act on (repeat for several; not needed for admin)")
    create.add_argument("--scope", required=True, choices=tokens.SCOPES,
                        help="check: run and read checks; ingest: upload windows; decide: read checks and "
                             "approve, reject, acknowledge, suppress, promote baselines; admin: everything, every service")
    create.add_argument("--role", choices=ROLES,
                        help="ingest only: the one role the token's recordings may have "
                             "(give a canary host --role canary; default: any role)")
    create.add_argument("--version", "--versions", dest="version_pattern", metavar="PATTERN",
                        help="ingest only: the versions the token may upload, an fnmatch pattern "
                             "such as 'v4*' (quote it; required with --role, '*' for any version but the "
                             "baseline's; default without --role: any version)")
    create.add_argument("--description", default="", help="who or what uses the token")
    create.set_defaults(func=create_token)
    listing = sub.add_parser("list", help="list tokens (prefixes only; secrets are never stored)")
    listing.set_defaults(func=list_tokens)
    revoke = sub.add_parser("revoke", help="revoke the token whose prefix starts with PREFIX")
    revoke.add_argument("prefix", metavar="PREFIX")
    revoke.set_defaults(func=revoke_token)
    for command in (create, listing, revoke):
        command.add_argument("--db", help="database URL (default: $GATE_DATABASE_URL or the embedded SQLite file)")


def _in_session(args, work):
    return in_transaction(args.db or Settings.from_env().database_url, work)


def _create_audited(session, args) -> tokens.CreatedToken:
    created = tokens.create_token(session, scope=args.scope, services=args.service, description=args.description,
                                  role=args.role, version_pattern=args.version_pattern)
    audit.record_token_change(session, action="token.create", actor=cli_actor(), token_id=created.token_id,
                              prefix=created.prefix,
                              scope=created.scope, services=created.services, description=args.description or "")
    return created


def _revoke_audited(session, args):
    token = tokens.revoke_token(session, args.prefix)
    audit.record_token_change(session, action="token.revoke", actor=cli_actor(), token_id=token.id,
                              prefix=token.prefix,
                              scope=token.scope, services=token.services, description=token.description or "")
    return token


def create_token(args) -> int:
    created = _in_session(args, lambda session: _create_audited(session, args))
    # The secret alone on stdout, so TOKEN=$(gate-server tokens create ...) captures it and nothing else.
    print(created.secret, flush=True)
    limits = ""
    if created.scope == "ingest":
        limits = f"; uploads {_role(created.role)} recordings of {_versions(created.version_pattern)}"
    print(f"# scope {created.scope}, services {', '.join(created.services)}{limits}; id token:{created.token_id}, prefix {created.prefix}. "
          "Store the token now: it is not shown again.", file=sys.stderr, flush=True)
    return 0


def _role(role) -> str:
    return role or "any role"


def _versions(pattern) -> str:
    return f"versions {pattern}" if pattern else "any version"


def list_tokens(args) -> int:
    rows = _in_session(args, tokens.list_tokens)
    # ID is the token's stable name in the audit log (`token:<id>`, the actor of what it did).
    print(f"{'ID':<6}{'PREFIX':<14}{'SCOPE':<8}{'SERVICES':<30}{'ROLE':<10}{'VERSIONS':<14}{'CREATED':<18}"
          f"{'LAST USED':<18}{'STATE':<9}DESCRIPTION")
    for token in rows:
        state = "revoked" if token.revoked_at else "active"
        last = token.last_used_at.strftime("%Y-%m-%d %H:%M") if token.last_used_at else "never"
        # Only an ingest token's uploads have a role and versions; an old one shows "any role": re-issue it.
        role, versions = ((_role(token.role), token.version_pattern or "any version") if token.scope == "ingest"
                          else ("-", "-"))
        print(f"{token.id:<6}{token.prefix:<14}{token.scope:<8}{','.join(token.services):<30}{role:<9} {versions:<13} "
              f"{token.created_at.strftime('%Y-%m-%d %H:%M'):<18}{last:<18}{state:<9}{token.description}")
    return 0


def revoke_token(args) -> int:
    token = _in_session(args, lambda session: _revoke_audited(session, args))
    print(f"revoked token {token.prefix} (scope {token.scope}, services {', '.join(token.services)})")
    return 0
