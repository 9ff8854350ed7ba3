"""A durable queue of jobs (`jobs`): webhook deliveries and GitHub deployment reviews,
taken by whichever gate server leases one first, so several servers share one database
and a restart loses none (gate_server/queue). Written by hand.

The downgrade drops the table: jobs not yet done are lost with it.

Revision ID: 0011_job_queue
Revises: 0010_github_deliveries
Create Date: 2026-12-03
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0011_job_queue'
down_revision: Union[str, None] = '0010_github_deliveries'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _wait_briefly_for_locks() -> None:
    # A schema change takes an ACCESS EXCLUSIVE lock: give up after 5 s rather than
    # queue every request of a running server behind a long transaction.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("SET LOCAL lock_timeout = '5s'")


def upgrade() -> None:
    _wait_briefly_for_locks()
    op.create_table(
        'jobs',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('run_after', sa.DateTime(timezone=True), nullable=False),
        sa.Column('leased_by', sa.String(length=200), nullable=True),
        sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('outcome', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs')),
    )
    op.create_index('ix_jobs_state_run_after', 'jobs', ['state', 'run_after'], unique=False)


def downgrade() -> None:
    _wait_briefly_for_locks()
    op.drop_index('ix_jobs_state_run_after', table_name='jobs')
    op.drop_table('jobs')
