"""`gate-server db upgrade|current`: the schema, owned by Alembic."""

from __future__ import annotations

from gate_server.settings import Settings
from gate_server.storage import migrate
from gate_contract.engine import mask_url


def register(subparsers) -> None:
    db = subparsers.add_parser("db", help="manage the database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = db_sub.add_parser("upgrade", help="apply migrations (creates the schema on a new database)")
    up.add_argument("--revision", default="head", help="target revision (default: head)")
    up.add_argument("--db", help="database URL (default: $GATE_DATABASE_URL or the embedded SQLite file)")
    up.set_defaults(func=upgrade)
    cur = db_sub.add_parser("current", help="print the schema revision of the database")
    cur.add_argument("--db", help="database URL")
    cur.set_defaults(func=current)


def _url(args) -> str:
    return args.db or Settings.from_env().database_url


def upgrade(args) -> int:
    url = _url(args)
    migrate.upgrade(url, args.revision)
    print(f"database {mask_url(url)} is at revision {migrate.current_revision(url)}")
    return 0


def current(args) -> int:
    print(migrate.current_revision(_url(args)) or "empty (run: gate-server db upgrade)")
    return 0
