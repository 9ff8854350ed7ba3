"""Drop the columns nothing reads: checks.anomalies, thresholds and observation (the
verdict document in checks.result holds all three, and it is what the API and the
dashboard show) and recordings.events_seen and drops (every window carries its own
events and losses, which is what the catalog and the judge sum). Written by hand.

The downgrade adds the columns back: the check columns filled from checks.result,
the recording totals as 0 and {} (the windows keep the figures they summed).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0003'
down_revision: Union[str, None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

CHECK_DOCUMENT_COLUMNS = {'anomalies': '[]', 'thresholds': '{}', 'observation': '{}'}
RESTORE_FROM_RESULT = {
    'postgresql': "UPDATE checks SET {column} = COALESCE(result -> '{column}', '{empty}'::json)",
    'sqlite': "UPDATE checks SET {column} = COALESCE(json_extract(result, '$.{column}'), '{empty}')",
}


def _wait_briefly_for_locks() -> None:
    # Dropping a column takes an ACCESS EXCLUSIVE lock: give up after 5 s rather than
    # queue every request of a running server behind a long transaction.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("SET LOCAL lock_timeout = '5s'")


def upgrade() -> None:
    _wait_briefly_for_locks()
    # Not batch mode (see 0002): SQLite >= 3.35 drops a column without constraints in place.
    for column in CHECK_DOCUMENT_COLUMNS:
        op.drop_column('checks', column)
    op.drop_column('recordings', 'events_seen')
    op.drop_column('recordings', 'drops')


def downgrade() -> None:
    _wait_briefly_for_locks()
    dialect = op.get_bind().dialect.name
    if dialect not in RESTORE_FROM_RESULT:
        raise RuntimeError(f"migration 0003 has no downgrade for {dialect}; only postgresql and sqlite are supported")
    # NOT NULL columns added to stored rows need a server default; it stays (0001 had none, nothing relies on it).
    op.add_column('recordings', sa.Column('events_seen', sa.BigInteger(), nullable=False, server_default='0'))
    op.add_column('recordings', sa.Column('drops', sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
    for column, empty in CHECK_DOCUMENT_COLUMNS.items():
        op.add_column('checks', sa.Column(column, sa.JSON(), nullable=False, server_default=sa.text(f"'{empty}'")))
        op.execute(RESTORE_FROM_RESULT[dialect].format(column=column, empty=empty))
