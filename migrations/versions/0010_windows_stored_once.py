"""Each window is stored once: its counts document (`windows.counts`) is the record, and
the window_features table goes. Written by hand.

Since 0002 every window carried its counts twice, as one window_features row per count
and as the document a check reads; at ~300 features a window that was 300 rows nothing
on the check path read (issue 26). Retention and the seccomp export now read the
documents too. A window left without a document (written by a writer older than 0002
after that migration ran) gets one built from its rows first, so no count is lost. The
`features` dictionary stays: documents name features by id.

The downgrade rebuilds window_features from the documents.

Revision ID: 0010_windows_stored_once
Revises: 0009
Create Date: 2026-12-03
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0010_windows_stored_once'
down_revision: Union[str, None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# The same documents 0002's backfill builds (see there): [[feature ids], [counts]].
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

# The documents back into rows: the two arrays pair up by position.
UNFOLD = {
    'postgresql': """
        INSERT INTO window_features (window_id, feature_id, count)
        SELECT windows.id, pair.feature_id::bigint, pair.count::bigint
        FROM windows CROSS JOIN LATERAL ROWS FROM (
            json_array_elements_text(windows.counts::json -> 0),
            json_array_elements_text(windows.counts::json -> 1)) AS pair(feature_id, count)
        WHERE windows.counts IS NOT NULL
    """,
    'sqlite': """
        INSERT INTO window_features (window_id, feature_id, count)
        SELECT windows.id, ids.value, counts.value
        FROM windows, json_each(windows.counts, '$[0]') AS ids
             JOIN json_each(windows.counts, '$[1]') AS counts ON counts.key = ids.key
        WHERE windows.counts IS NOT NULL
    """,
}


def _wait_briefly_for_locks() -> None:
    # A schema change takes an ACCESS EXCLUSIVE lock: give up after 5 s rather than
    # queue every request of a running server behind a long transaction.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("SET LOCAL lock_timeout = '5s'")


def _statement(statements: dict[str, str]) -> str:
    dialect = op.get_bind().dialect.name
    if dialect not in statements:
        raise RuntimeError(f"migration {revision} supports only postgresql and sqlite, not {dialect}")
    return statements[dialect]


def upgrade() -> None:
    _wait_briefly_for_locks()
    op.execute(_statement(BACKFILL))
    op.drop_index('ix_window_features_feature_id', table_name='window_features')
    op.drop_table('window_features')


def downgrade() -> None:
    _wait_briefly_for_locks()
    big_id = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
    op.create_table(
        'window_features',
        sa.Column('window_id', big_id, nullable=False),
        sa.Column('feature_id', big_id, nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['feature_id'], ['features.id'], name='fk_window_features_feature_id_features',
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['window_id'], ['windows.id'], name='fk_window_features_window_id_windows',
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('window_id', 'feature_id', name='pk_window_features'),
    )
    op.create_index('ix_window_features_feature_id', 'window_features', ['feature_id'])
    op.execute(_statement(UNFOLD))
