"""People's decisions: check_decisions (approve/reject, one per check), suppressions,
acknowledgements, baseline_promotions and audit_log. Written by hand.

New tables only, so a running server is not blocked and nothing stored changes; the
downgrade drops them (and with them every decision, suppression and audit entry).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0007'
down_revision: Union[str, None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _wait_briefly_for_locks() -> None:
    # New tables lock nothing a running server uses, but the rule is the same for every
    # migration: give up after 5 s rather than queue requests behind a long transaction.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("SET LOCAL lock_timeout = '5s'")


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    _wait_briefly_for_locks()
    op.create_table(
        'check_decisions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('check_id', sa.Integer(), nullable=False),
        sa.Column('decision', sa.String(length=10), nullable=False),
        sa.Column('decided_by', sa.String(length=200), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        _when('decided_at'),
        sa.ForeignKeyConstraint(['check_id'], ['checks.id'], name=op.f('fk_check_decisions_check_id_checks'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_check_decisions')),
        sa.UniqueConstraint('check_id', name=op.f('uq_check_decisions_check_id')),
    )
    op.create_table(
        'suppressions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('service_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('pattern', sa.String(length=1024), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('created_by', sa.String(length=200), nullable=False),
        _when('created_at'),
        _when('expires_at'),
        sa.Column('revoked_by', sa.String(length=200), nullable=True),
        _when('revoked_at', nullable=True),
        sa.Column('check_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['check_id'], ['checks.id'], name=op.f('fk_suppressions_check_id_checks'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_suppressions_service_id_services'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_suppressions')),
    )
    op.create_index('ix_suppressions_service_expires', 'suppressions', ['service_id', 'expires_at'], unique=False)
    op.create_table(
        'acknowledgements',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('check_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('key', sa.String(length=1024), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('acknowledged_by', sa.String(length=200), nullable=False),
        _when('acknowledged_at'),
        sa.Column('suppression_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['check_id'], ['checks.id'], name=op.f('fk_acknowledgements_check_id_checks'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['suppression_id'], ['suppressions.id'],
                                name=op.f('fk_acknowledgements_suppression_id_suppressions'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_acknowledgements')),
    )
    op.create_index('ix_acknowledgements_check', 'acknowledgements', ['check_id'], unique=False)
    op.create_table(
        'baseline_promotions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('service_id', sa.Integer(), nullable=False),
        sa.Column('version', sa.String(length=200), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('promoted_by', sa.String(length=200), nullable=False),
        _when('promoted_at'),
        sa.ForeignKeyConstraint(['service_id'], ['services.id'],
                                name=op.f('fk_baseline_promotions_service_id_services'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_baseline_promotions')),
    )
    op.create_index('ix_baseline_promotions_service_at', 'baseline_promotions', ['service_id', 'promoted_at'],
                    unique=False)
    op.create_table(
        'audit_log',
        sa.Column('id', sa.Integer(), nullable=False),
        _when('at'),
        sa.Column('actor', sa.String(length=200), nullable=False),
        sa.Column('action', sa.String(length=40), nullable=False),
        sa.Column('service', sa.String(length=200), nullable=False),
        sa.Column('check_id', sa.Integer(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('detail', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log')),
    )
    op.create_index(op.f('ix_audit_log_at'), 'audit_log', ['at'], unique=False)
    op.create_index(op.f('ix_audit_log_service'), 'audit_log', ['service'], unique=False)


def downgrade() -> None:
    _wait_briefly_for_locks()
    op.drop_index(op.f('ix_audit_log_service'), table_name='audit_log')
    op.drop_index(op.f('ix_audit_log_at'), table_name='audit_log')
    op.drop_table('audit_log')
    op.drop_index('ix_baseline_promotions_service_at', table_name='baseline_promotions')
    op.drop_table('baseline_promotions')
    op.drop_index('ix_acknowledgements_check', table_name='acknowledgements')
    op.drop_table('acknowledgements')
    op.drop_index('ix_suppressions_service_expires', table_name='suppressions')
    op.drop_table('suppressions')
    op.drop_table('check_decisions')
