"""GitHub webhook deliveries the App took (`github_deliveries`): a replayed delivery is
answered, not reviewed again. Written by hand.

The downgrade drops the table: replays are then reviewed again.

Revision ID: 0010_github_deliveries
Revises: 0010_windows_stored_once
Create Date: 2026-12-03
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0010_github_deliveries'
down_revision: Union[str, None] = '0010_windows_stored_once'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # A new table takes no lock on any other: no lock_timeout needed.
    op.create_table(
        'github_deliveries',
        sa.Column('body_sha256', sa.String(length=64), nullable=False),
        sa.Column('delivery_id', sa.String(length=100), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('body_sha256', name=op.f('pk_github_deliveries')),
    )


def downgrade() -> None:
    op.drop_table('github_deliveries')
