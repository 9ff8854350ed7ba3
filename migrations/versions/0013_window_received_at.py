"""Windows carry the time they were received (`windows.received_at`; issue 25). Written by hand.

A window's `started_at` and `ended_at` are the uploader's word: a canary host can backdate
a window (within GATE_INGEST_MAX_WINDOW_AGE_HOURS) or forward-date it (within the accepted
skew). What must not trust the uploader (retention, drift's periods, which canary windows
of a promoted version came before its promotion) orders windows by their receipt: the
server's clock for an HTTP upload, the writer's for a probe that holds the database's
credentials (the operator's own).

Existing windows are filled with their `ended_at`, the closest to a receipt they have
(a window is sent when it ends). Nullable, so Postgres adds the column without a default
rewrite; the writer sets it on every window from now on. Indexed: retention selects by it.

The downgrade drops the index and the column: the windows stay, their receipt times are lost.

Revision ID: 0013_window_received_at
Revises: 0012_recording_startup
Create Date: 2026-12-04
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0013_window_received_at'
down_revision: Union[str, None] = '0012_recording_startup'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _wait_briefly_for_locks() -> None:
    # A schema change takes an ACCESS EXCLUSIVE lock: give up after 5 s rather than
    # queue every request of a running server behind a long transaction.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("SET LOCAL lock_timeout = '5s'")


def upgrade() -> None:
    _wait_briefly_for_locks()
    op.add_column('windows', sa.Column('received_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE windows SET received_at = ended_at")
    op.create_index('ix_windows_received_at', 'windows', ['received_at'])


def downgrade() -> None:
    _wait_briefly_for_locks()
    op.drop_index('ix_windows_received_at', table_name='windows')
    # Not batch mode (see 0002): SQLite >= 3.35 drops a column without constraints in place.
    op.drop_column('windows', 'received_at')
