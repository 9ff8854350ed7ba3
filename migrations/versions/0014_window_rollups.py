"""Rollups of windows per version and 10-minute slot (`window_rollups`, issue 26), what
continuous drift detection reads once the steady-window bound thins stored windows.
Written by hand. The upgrade sums every stored window into them (streamed, ordered by
version and time, so memory holds one slot); the writer appends them from then on.

The downgrade drops the table: the windows are untouched, drift read them before.

Revision ID: 0014_window_rollups
Revises: 0012_recording_startup
Create Date: 2026-12-04
"""
import json
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

from gate_contract.rollups import RollupSum, rollup_row, slot_start


revision: str = '0014_window_rollups'
down_revision: Union[str, None] = '0012_recording_startup'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

ROWS_PER_INSERT = 500


def _wait_briefly_for_locks() -> None:
    # A schema change takes an ACCESS EXCLUSIVE lock: give up after 5 s rather than
    # queue every request of a running server behind a long transaction.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("SET LOCAL lock_timeout = '5s'")


def _document(text):
    return json.loads(text) if isinstance(text, str) else (text or {})


def _backfill(table: sa.Table) -> None:
    bind = op.get_bind()
    windows = bind.execute(sa.text(
        "SELECT r.service_id, r.version, w.started_at, w.startup, w.syscalls_total, w.events_total, "
        "w.sample_every, w.drops, w.hooks, w.counts, w.inventory FROM windows w "
        "JOIN recordings r ON r.id = w.recording_id ORDER BY r.service_id, r.version, w.started_at, w.id")
        # typed, so SQLite's stored text reads as a time, as through the models
        .columns(started_at=sa.DateTime(timezone=True)))
    sums: dict = {}
    pending: list = []
    current = None

    def flush():
        pending.extend(rollup_row(key, total) for key, total in sums.items())
        sums.clear()
        if pending:
            bind.execute(table.insert(), pending)
            pending.clear()

    for (service_id, version, started_at, startup, syscalls, events, sample_every, drops, hooks,
         counts, inventory) in windows:
        slot = slot_start(started_at)
        if current != (service_id, version, slot):
            if len(sums) >= ROWS_PER_INSERT:
                flush()
            current = (service_id, version, slot)
        ids, numbers = json.loads(counts) if counts else ([], [])
        sums.setdefault((service_id, version, slot, bool(startup)), RollupSum()).add(
            syscalls_total=syscalls or 0, events_total=events or 0, sample_every=sample_every,
            drops=_document(drops), hooks=_document(hooks), counts=zip(ids, numbers),
            inventory=json.loads(inventory)[0] if inventory else ())
    flush()


def upgrade() -> None:
    _wait_briefly_for_locks()
    table = op.create_table(
        'window_rollups',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('service_id', sa.Integer(), nullable=False),
        sa.Column('version', sa.String(length=200), nullable=False),
        sa.Column('slot_start', sa.DateTime(timezone=True), nullable=False),
        sa.Column('startup', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('windows', sa.Integer(), nullable=False),
        sa.Column('syscalls_total', sa.BigInteger(), nullable=False),
        sa.Column('events_total', sa.BigInteger(), nullable=False),
        sa.Column('sample_every', sa.Integer(), nullable=False),
        sa.Column('drops', sa.JSON(), nullable=False),
        sa.Column('hooks', sa.JSON(), nullable=True),
        sa.Column('counts', sa.Text(), nullable=False),
        sa.Column('inventory', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['service_id'], ['services.id'], name=op.f('fk_window_rollups_service_id_services'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_window_rollups')),
    )
    op.create_index('ix_window_rollups_service_version_slot', 'window_rollups',
                    ['service_id', 'version', 'slot_start'], unique=False)
    _backfill(table)


def downgrade() -> None:
    _wait_briefly_for_locks()
    op.drop_index('ix_window_rollups_service_version_slot', table_name='window_rollups')
    op.drop_table('window_rollups')
