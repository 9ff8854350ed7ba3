"""Windows say which kernel hook produced each kind of feature (`windows.hooks`, JSON:
{"file": "fentry:security_file_open", "exec": "tracepoint:sched_process_exec", ...}).
Written by hand.

Where the kernel allows fentry, the probe keys file opens by the path of the file the
kernel opened; elsewhere by the text the process passed, resolved in userspace
(docs/probe.md). A check shows which produced each side's windows. NULL: a window
stored before this migration, or sent by a probe that did not say.

The downgrade drops the column: the windows stay, what produced them is lost.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0009'
down_revision: Union[str, None] = '0008'
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
    op.add_column('windows', sa.Column('hooks', sa.JSON(), nullable=True))


def downgrade() -> None:
    _wait_briefly_for_locks()
    # Not batch mode (see 0002): SQLite >= 3.35 drops a column without constraints in place.
    op.drop_column('windows', 'hooks')
