"""Checks carry the Idempotency-Key of the request that stored them
(`checks.idempotency_key`), unique per service. Written by hand.

The Action sends one key per gate step of a run attempt, the same on every retry and
poll; the server stores one check per key and updates that check when a poll's
verdict differs (docs/server.md, "Repeated requests"). NULL: a check sent without a
key (every check stored before this migration, `gate-server check`). Both Postgres
and SQLite let any number of NULLs share a unique index.

The downgrade drops the index and the column: the checks stay, their keys are lost.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0006'
down_revision: Union[str, None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _wait_briefly_for_locks() -> None:
    # A schema change takes an ACCESS EXCLUSIVE lock: give up after 5 s rather than
    # queue every request of a running server behind a long transaction.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("SET LOCAL lock_timeout = '5s'")


def upgrade() -> None:
    _wait_briefly_for_locks()
    # Nullable, no default: Postgres adds the column without rewriting the table.
    op.add_column('checks', sa.Column('idempotency_key', sa.String(length=512), nullable=True))
    op.create_index('ix_checks_service_idempotency_key', 'checks', ['service_id', 'idempotency_key'], unique=True)


def downgrade() -> None:
    _wait_briefly_for_locks()
    op.drop_index('ix_checks_service_idempotency_key', table_name='checks')
    # Not batch mode (see 0002): SQLite >= 3.35 drops a column without constraints in place.
    op.drop_column('checks', 'idempotency_key')
