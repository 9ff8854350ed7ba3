"""`gate-server`: one module per command group, each with `register(subparsers)`.

Exit codes: 0 ok, 1 the command ran and found a failure (e.g. a check paused),
2 bad input or an unusable environment (bad URL, unreachable database, bad config).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from gate_server.cli.errors import UsageError
from gate_server.settings import SettingsError
from gate_contract.engine import DatabaseError
from gate_contract.engine import DatabaseError

# Each name is a module in this package that defines register(subparsers).
COMMAND_MODULES = ("db", "serve", "doctor", "check", "checks", "baselines", "config", "tokens", "policy", "drift",
                   "seccomp", "prune")

EPILOG = """examples:
  gate-server db upgrade                         apply migrations to $GATE_DATABASE_URL
  gate-server doctor                             check the database, schema, public URL, metrics dir, tokens
  gate-server serve                              run the API and dashboard under gunicorn ($GATE_BIND)
  gate-server tokens create --service web --scope check
  gate-server policy set --service web limits.max_new_execs 0
  gate-server check --service web --baseline v1 --canary v2 --config .github/syscall-gate.yml
  gate-server checks decide 42 --approve --reason "the new exec is the image converter"
  gate-server baselines promote --service web --version v2 --reason "rolled out everywhere"
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gate-server", description="syscall-gate's gate server and its tools.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"gate_server.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # here, where a closed pipe is caught, not at interpreter exit
        return status
    except (DatabaseError, UsageError, SettingsError) as exc:
        print(f"gate-server: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return reader_went_away()


def reader_went_away() -> int:
    """The reader of stdout closed it (`| head`): stop quietly, as a command killed by SIGPIPE would."""
    # Python flushes stdout again at exit; pointing it at /dev/null keeps that flush from
    # raising a second BrokenPipeError (the Python docs' recipe, "Note on SIGPIPE").
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 128 + 13


if __name__ == "__main__":
    sys.exit(main())
