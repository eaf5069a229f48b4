"""cdx index: captures (surt COLLATE "C", timestamp, id) on PostgreSQL, the whole /cdx sort order

A CDX answer is sorted by (SURT key, timestamp, id). The index of 0003 stopped at timestamp, so
PostgreSQL sorted what it read: an incremental sort when it expected many rows, but a full sort
of the range when it expected few, and its estimates of COLLATE "C" ranges are poor (1 row for
a prefix of 50,000 captures at 10M: `limit=100` read all 50,000, 155 ms, instead of 100). With
id in the index the plan is an index scan that stops at the limit, whatever the estimate.
SQLite's (surt, timestamp) index ends with the rowid, which is id: it has this order already.

Revision ID: p_cdx5_surt_c_ts_id
Revises: p_search3_terms
"""

from __future__ import annotations

from alembic import op

revision = 'p_cdx5_surt_c_ts_id'
down_revision = 'p_search3_terms'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute('CREATE INDEX IF NOT EXISTS ix_captures_surt_c_ts_id'
                   ' ON captures (surt COLLATE "C", timestamp, id)')
        op.execute("DROP INDEX IF EXISTS ix_captures_surt_c_ts")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute('CREATE INDEX IF NOT EXISTS ix_captures_surt_c_ts ON captures (surt COLLATE "C", timestamp)')
        op.execute("DROP INDEX IF EXISTS ix_captures_surt_c_ts_id")
