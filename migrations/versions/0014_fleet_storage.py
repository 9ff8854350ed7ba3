"""Fleet storage (issue 26). Written by hand.

1. Rollups of windows per version and 10-minute slot (`window_rollups`), what continuous
   drift detection reads once the steady-window bound thins stored windows. The upgrade
   sums every stored window into them (streamed, ordered by version and time, so memory
   holds one slot); the writer appends them from then on.
2. A window is unique by (recording, index, start), the partition key having to be in
   every unique constraint of a partitioned table. On Postgres `windows` becomes a table
   partitioned by month of `started_at` (gate_server/storage/partitions.py): the rows
   move into monthly partitions from the oldest window's month to three months ahead,
   and a default partition. SQLite keeps one plain table.

The downgrade puts back the plain table and its (recording, index) uniqueness, keeping
the first of any windows stored twice under one index with different starts, and drops
the rollups (drift read the windows before).

Revision ID: 0014_fleet_storage
Revises: 0012_recording_startup
Create Date: 2026-12-04
"""
import json
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

from gate_contract.rollups import RollupSum, rollup_row, slot_start
from gate_server.storage import partitions


revision: str = '0014_fleet_storage'
down_revision: Union[str, None] = '0013_window_received_at'
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
        "SELECT r.service_id, r.version, w.received_at, w.startup, w.syscalls_total, w.events_total, "
        "w.sample_every, w.drops, w.hooks, w.counts, w.inventory FROM windows w "
        "JOIN recordings r ON r.id = w.recording_id ORDER BY r.service_id, r.version, w.received_at, w.id")
        # typed, so SQLite's stored text reads as a time, as through the models
        .columns(received_at=sa.DateTime(timezone=True)))
    sums: dict = {}
    pending: list = []
    current = None

    def flush():
        pending.extend(rollup_row(key, total) for key, total in sums.items())
        sums.clear()
        if pending:
            bind.execute(table.insert(), pending)
            pending.clear()

    for (service_id, version, received_at, startup, syscalls, events, sample_every, drops, hooks,
         counts, inventory) in windows:
        slot = slot_start(received_at)
        if current != (service_id, version, slot):
            if len(sums) >= ROWS_PER_INSERT:
                flush()
            current = (service_id, version, slot)
        ids, numbers = json.loads(counts)[:2] if counts else ([], [])  # lineage may follow
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
    if op.get_bind().dialect.name == 'postgresql':
        _partition_windows()
    else:
        with op.batch_alter_table('windows') as batch:
            batch.drop_constraint('uq_windows_recording_id_index', type_='unique')
            batch.create_unique_constraint('uq_windows_recording_id_index_started_at',
                                           ['recording_id', 'index', 'started_at'])


def _partition_windows() -> None:
    for statement in (
        "ALTER TABLE windows RENAME TO windows_unpartitioned",
        "ALTER TABLE windows_unpartitioned RENAME CONSTRAINT pk_windows TO pk_windows_unpartitioned",
        "ALTER TABLE windows_unpartitioned RENAME CONSTRAINT uq_windows_recording_id_index "
        "TO uq_windows_unpartitioned_recording_id_index",
        "ALTER TABLE windows_unpartitioned RENAME CONSTRAINT fk_windows_recording_id_recordings "
        "TO fk_windows_unpartitioned_recording_id_recordings",
        "ALTER INDEX ix_windows_started_at RENAME TO ix_windows_unpartitioned_started_at",
        "ALTER INDEX ix_windows_received_at RENAME TO ix_windows_unpartitioned_received_at",
        # LIKE copies the columns, NOT NULLs and defaults: the id keeps drawing from windows_id_seq.
        "CREATE TABLE windows (LIKE windows_unpartitioned INCLUDING DEFAULTS) PARTITION BY RANGE (started_at)",
        "ALTER TABLE windows ADD CONSTRAINT pk_windows PRIMARY KEY (id, started_at)",
        "ALTER TABLE windows ADD CONSTRAINT uq_windows_recording_id_index_started_at "
        "UNIQUE (recording_id, index, started_at)",
        "ALTER TABLE windows ADD CONSTRAINT fk_windows_recording_id_recordings FOREIGN KEY (recording_id) "
        "REFERENCES recordings (id) ON DELETE CASCADE",
        "CREATE INDEX ix_windows_started_at ON windows (started_at)",
        "CREATE INDEX ix_windows_received_at ON windows (received_at)",  # retention's (0013)
        "ALTER SEQUENCE windows_id_seq OWNED BY windows.id",
    ):
        op.execute(statement)
    bind = op.get_bind()
    oldest = bind.execute(sa.text("SELECT min(started_at) FROM windows_unpartitioned")).scalar()
    partitions.ensure_partitions(bind, since=oldest)
    op.execute("INSERT INTO windows SELECT * FROM windows_unpartitioned")
    op.execute("DROP TABLE windows_unpartitioned")


def _unpartition_windows() -> None:
    for statement in (
        "ALTER TABLE windows RENAME TO windows_partitioned",
        "ALTER TABLE windows_partitioned RENAME CONSTRAINT pk_windows TO pk_windows_partitioned",
        "ALTER TABLE windows_partitioned RENAME CONSTRAINT fk_windows_recording_id_recordings "
        "TO fk_windows_partitioned_recording_id_recordings",
        "ALTER INDEX ix_windows_started_at RENAME TO ix_windows_partitioned_started_at",
        "ALTER INDEX ix_windows_received_at RENAME TO ix_windows_partitioned_received_at",
        "CREATE TABLE windows (LIKE windows_partitioned INCLUDING DEFAULTS)",
        "ALTER SEQUENCE windows_id_seq OWNED BY windows.id",
        # the first window of each (recording, index): the one the old uniqueness kept
        "INSERT INTO windows SELECT DISTINCT ON (recording_id, index) * FROM windows_partitioned "
        "ORDER BY recording_id, index, id",
        "DROP TABLE windows_partitioned CASCADE",
        "ALTER TABLE windows ADD CONSTRAINT pk_windows PRIMARY KEY (id)",
        "ALTER TABLE windows ADD CONSTRAINT uq_windows_recording_id_index UNIQUE (recording_id, index)",
        "ALTER TABLE windows ADD CONSTRAINT fk_windows_recording_id_recordings FOREIGN KEY (recording_id) "
        "REFERENCES recordings (id) ON DELETE CASCADE",
        "CREATE INDEX ix_windows_started_at ON windows (started_at)",
        "CREATE INDEX ix_windows_received_at ON windows (received_at)",
    ):
        op.execute(statement)


def downgrade() -> None:
    _wait_briefly_for_locks()
    if op.get_bind().dialect.name == 'postgresql':
        _unpartition_windows()
    else:
        op.execute("DELETE FROM windows WHERE id NOT IN "
                   "(SELECT min(id) FROM windows GROUP BY recording_id, \"index\")")
        with op.batch_alter_table('windows') as batch:
            batch.drop_constraint('uq_windows_recording_id_index_started_at', type_='unique')
            batch.create_unique_constraint('uq_windows_recording_id_index', ['recording_id', 'index'])
    op.drop_index('ix_window_rollups_service_version_slot', table_name='window_rollups')
    op.drop_table('window_rollups')
