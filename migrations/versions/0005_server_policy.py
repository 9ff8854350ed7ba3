"""Server policy: policy_floors (one floor per service and field, service '' = every
service) and policy_audit (who changed which floor, when, from what to what). Written
by hand.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0005'
down_revision: Union[str, None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _wait_briefly_for_locks() -> None:
    # New tables lock nothing a running server uses, but the rule is the same for every
    # migration: give up after 5 s rather than queue requests behind a long transaction.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("SET LOCAL lock_timeout = '5s'")


def upgrade() -> None:
    _wait_briefly_for_locks()
    op.create_table(
        'policy_floors',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('service', sa.String(length=200), nullable=False),
        sa.Column('field', sa.String(length=100), nullable=False),
        sa.Column('value', sa.JSON(), nullable=False),
        sa.Column('set_by', sa.String(length=200), nullable=False),
        sa.Column('set_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_policy_floors')),
        sa.UniqueConstraint('service', 'field', name=op.f('uq_policy_floors_service_field')),
    )
    op.create_table(
        'policy_audit',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.String(length=200), nullable=False),
        sa.Column('action', sa.String(length=10), nullable=False),
        sa.Column('service', sa.String(length=200), nullable=False),
        sa.Column('field', sa.String(length=100), nullable=False),
        sa.Column('old_value', sa.JSON(), nullable=True),
        sa.Column('new_value', sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_policy_audit')),
    )
    op.create_index(op.f('ix_policy_audit_at'), 'policy_audit', ['at'], unique=False)


def downgrade() -> None:
    _wait_briefly_for_locks()
    op.drop_index(op.f('ix_policy_audit_at'), table_name='policy_audit')
    op.drop_table('policy_audit')
    op.drop_table('policy_floors')
