"""Recordings say what the probe saw of their workload's start-up (`recordings.startup`:
observed, partly or not_observed; issue 23). Written by hand.

A window is a start-up window only when its recording saw the workload begin (its first
process exec'd or forked in scope); a recording that attached to running processes says
`not_observed`, or `partly` once it saw them start again. NULL: a recording stored
before this migration, or sent by a probe that did not say.

The downgrade drops the column: the recordings stay, what they saw of the start-up is lost.

Revision ID: 0011_recording_startup
Revises: 0010_github_deliveries
Create Date: 2026-12-03
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0012_recording_startup'
down_revision: Union[str, None] = '0011_job_queue'
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
    op.add_column('recordings', sa.Column('startup', sa.String(length=20), nullable=True))


def downgrade() -> None:
    _wait_briefly_for_locks()
    # Not batch mode (see 0002): SQLite >= 3.35 drops a column without constraints in place.
    op.drop_column('recordings', 'startup')
