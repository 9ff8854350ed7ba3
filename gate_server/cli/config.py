"""`gate-server config`: the threshold config's JSON Schema, and a check of a config file.

The judge (gate_server.analysis) does no file I/O of its own: writing the committed
schema lives here. Also runs as `python -m gate_server.cli.config`, without the server's
dependencies being configured.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Optional

from gate_server.analysis.config import SCHEMA_PATH, ConfigError, json_schema
from gate_server.config_file import load_config_file


def register(subparsers) -> None:
    parser = subparsers.add_parser("config", help="print the threshold config's JSON Schema, or check a config")
    add_arguments(parser)
    parser.set_defaults(func=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--schema", action="store_true", help="print the JSON Schema (Draft 2020-12)")
    action.add_argument("--write-schema", action="store_true", help=f"write the schema to {SCHEMA_PATH.name}")
    action.add_argument("--check", metavar="FILE", help="validate a config file; exit 2 if it is broken")


def _schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True)


def run(args) -> int:
    if args.schema:
        print(_schema_text())
    elif args.write_schema:
        SCHEMA_PATH.write_text(_schema_text() + "\n")
        print(f"wrote {SCHEMA_PATH}")
    else:
        try:
            load_config_file(args.check)
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"{args.check}: valid")
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gate_server.cli.config", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
