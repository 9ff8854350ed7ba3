"""Windows say when the workload's oldest process started (`windows.workload_started_at`).
Written by hand.

The window's age is its end minus this. A check treats behaviour the canary showed only
at ages the baseline was never watched at (a task run once a minute, reached by the
canary's recording and not the baseline's) as unverified, as it treats a start-up the
baseline's recording never saw (gate_server/analysis/ages.py). NULL: a window stored
before this migration, or sent by a probe that did not say; the judge then leaves ages out.

On Postgres `windows` is partitioned (0014): adding a column to the parent adds it to
every partition, nullable and without a default, so no partition is rewritten.

The downgrade drops the column: the windows stay, their ages are lost.

Revision ID: 0015_window_workload_age
Revises: 0014_fleet_storage
Create Date: 2026-12-04
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0015_window_workload_age'
down_revision: Union[str, None] = '0014_fleet_storage'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _wait_briefly_for_locks() -> None:
    # A schema change takes an ACCESS EXCLUSIVE lock: give up after 5 s rather than
    # queue every request of a running server behind a long transaction.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("SET LOCAL lock_timeout = '5s'")


def upgrade() -> None:
    _wait_briefly_for_locks()
    op.add_column('windows', sa.Column('workload_started_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    _wait_briefly_for_locks()
    # Not batch mode (see 0002): SQLite >= 3.35 drops a column without constraints in place.
    op.drop_column('windows', 'workload_started_at')
