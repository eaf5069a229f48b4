"""cdx index: captures (surt COLLATE "C", timestamp) on PostgreSQL for SURT range queries

CDX prefix, host and domain queries are ranges of SURT keys, which only mean "starts with" in
code-point order. PostgreSQL databases usually collate text linguistically (en_US.UTF-8 ignores
punctuation such as "," and ")" at first level), so the range queries compare with COLLATE "C",
and this index serves them. SQLite compares bytes already (the existing index serves it).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            'CREATE INDEX IF NOT EXISTS ix_captures_surt_c_ts ON captures (surt COLLATE "C", timestamp)'
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_captures_surt_c_ts")
