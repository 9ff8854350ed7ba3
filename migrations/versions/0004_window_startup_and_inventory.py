"""Windows say whether they cover a start-up (`windows.startup`) and carry what the
processes already held when the recording attached (`windows.inventory`). Written by hand.

The inventory is a document like `windows.counts` ([[feature ids], [counts]], see
`gate_contract.models.encode_window_counts`), not window_features rows: what a
recording found held is no event count of its window, and window_features is what
retention, the seccomp export and the catalog sum as counts. A check reads it with
the window, the one place it is used. NULL: no inventory (every window stored before
this migration, and every window but the first of an attached recording).

A window stored before this migration is no start-up window (false). The downgrade
drops both columns: the start-up flags and inventories are lost, the windows stay.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0004'
down_revision: Union[str, None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _wait_briefly_for_locks() -> None:
    # A schema change takes an ACCESS EXCLUSIVE lock: give up after 5 s rather than
    # queue every request of a running server behind a long transaction.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("SET LOCAL lock_timeout = '5s'")


def upgrade() -> None:
    _wait_briefly_for_locks()
    # A constant default: Postgres (>= 11) adds the column without rewriting the table.
    op.add_column('windows', sa.Column('startup', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column('windows', sa.Column('inventory', sa.Text(), nullable=True))


def downgrade() -> None:
    _wait_briefly_for_locks()
    # Not batch mode (see 0002): SQLite >= 3.35 drops a column without constraints in place.
    op.drop_column('windows', 'inventory')
    op.drop_column('windows', 'startup')
