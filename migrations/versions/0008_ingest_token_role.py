"""Ingest tokens may be limited to one role and a version pattern
(`api_tokens.role`, `api_tokens.version_pattern`). Written by hand.

NULL in both: any role, any version, which is what every token made before this
migration keeps (they work as before; `gate-server tokens list` shows them as
"any role", and docs/operations.md says to re-issue them with --role).

The downgrade drops both columns: the tokens stay, scoped by service only again.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0008'
down_revision: Union[str, None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _wait_briefly_for_locks() -> None:
    # A schema change takes an ACCESS EXCLUSIVE lock: give up after 5 s rather than
    # queue every request of a running server behind a long transaction.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("SET LOCAL lock_timeout = '5s'")


def upgrade() -> None:
    _wait_briefly_for_locks()
    # Nullable, no default: Postgres adds the columns without rewriting the table.
    op.add_column('api_tokens', sa.Column('role', sa.String(length=20), nullable=True))
    op.add_column('api_tokens', sa.Column('version_pattern', sa.String(length=200), nullable=True))


def downgrade() -> None:
    _wait_briefly_for_locks()
    # Not batch mode (see 0002): SQLite >= 3.35 drops a column without constraints in place.
    op.drop_column('api_tokens', 'version_pattern')
    op.drop_column('api_tokens', 'role')
