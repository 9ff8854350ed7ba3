"""Windows carry their counts as one document (`windows.counts`), backfilled from
window_features, so a check reads one row per window instead of one per count.
Written by hand.

The document is JSON text of two parallel arrays, [[feature ids], [counts]], as
`gate_contract.models.encode_window_counts` writes it (readers do not rely
on the order of the ids, which SQLite's backfill does not promise). window_features stays: retention,
the seccomp export and the backfill itself read it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0002'
down_revision: Union[str, None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# One correlated aggregate per window, read through window_features' primary key
# (window_id, feature_id). Both arrays aggregate the same rows in the same pass, so
# their elements pair up; a window without counts gets [[],[]], not NULL.
BACKFILL = {
    'postgresql': """
        UPDATE windows SET counts = (
            SELECT json_build_array(
                       COALESCE(json_agg(wf.feature_id ORDER BY wf.feature_id), '[]'::json),
                       COALESCE(json_agg(wf.count ORDER BY wf.feature_id), '[]'::json))::text
            FROM window_features AS wf WHERE wf.window_id = windows.id)
        WHERE counts IS NULL
    """,
    'sqlite': """
        UPDATE windows SET counts = (
            SELECT json_array(json_group_array(wf.feature_id), json_group_array(wf.count))
            FROM window_features AS wf WHERE wf.window_id = windows.id)
        WHERE counts IS NULL
    """,
}


def upgrade() -> None:
    # A nullable column is added in place on both dialects (no SQLite table copy).
    op.add_column('windows', sa.Column('counts', sa.Text(), nullable=True))
    dialect = op.get_bind().dialect.name
    if dialect not in BACKFILL:
        raise RuntimeError(f"migration 0002 has no backfill for {dialect}; only postgresql and sqlite are supported")
    op.execute(BACKFILL[dialect])


def downgrade() -> None:
    # window_features still holds every count, so dropping the documents loses nothing.
    # Not batch mode: SQLite's table copy would DROP TABLE windows, and with foreign keys
    # on that cascades into window_features. SQLite >= 3.35 drops a column in place.
    op.drop_column('windows', 'counts')
