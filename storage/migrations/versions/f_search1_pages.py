"""pages: metadata and main text of archived pages, with a full-text index (FTS5 on SQLite,
a weighted tsvector with a GIN index on PostgreSQL)

Revision ID: f_search1
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'f_search1'
down_revision = 'f_browser'
branch_labels = None
depends_on = None

# Kept in step with citevault.storage.search: the FTS5 columns and the tsvector's weights.
_FTS_SYNC = {
    "pages_ai": "AFTER INSERT ON pages BEGIN INSERT INTO pages_fts(rowid, title, url, text) "
                "VALUES (new.capture_id, new.title, new.url, new.text); END",
    "pages_ad": "AFTER DELETE ON pages BEGIN INSERT INTO pages_fts(pages_fts, rowid, title, url, text) "
                "VALUES ('delete', old.capture_id, old.title, old.url, old.text); END",
    "pages_au": "AFTER UPDATE ON pages BEGIN INSERT INTO pages_fts(pages_fts, rowid, title, url, text) "
                "VALUES ('delete', old.capture_id, old.title, old.url, old.text); "
                "INSERT INTO pages_fts(rowid, title, url, text) "
                "VALUES (new.capture_id, new.title, new.url, new.text); END",
}


def upgrade() -> None:
    op.create_table('pages',
    sa.Column('capture_id', sa.Integer(), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('surt', sa.Text(), nullable=False),
    sa.Column('timestamp', sa.String(length=14), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('status', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('title', sa.Text(), nullable=True),
    sa.Column('authors', sa.Text(), nullable=True),
    sa.Column('published', sa.String(length=10), nullable=True),
    sa.Column('site', sa.Text(), nullable=True),
    sa.Column('language', sa.String(length=35), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('handle', sa.String(length=64), nullable=True),
    sa.Column('subject_url', sa.Text(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['capture_id'], ['captures.id'], ),
    sa.PrimaryKeyConstraint('capture_id')
    )
    with op.batch_alter_table('pages', schema=None) as batch_op:
        batch_op.create_index('ix_pages_surt_ts', ['surt', 'timestamp'], unique=False)
        batch_op.create_index('ix_pages_timestamp', ['timestamp'], unique=False)
        batch_op.create_index('ix_pages_subject_url', ['subject_url'], unique=False)
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE pages_fts USING fts5(title, url, text, content='pages', "
            "content_rowid='capture_id', tokenize='porter unicode61 remove_diacritics 2')"
        )
        for name, body in _FTS_SYNC.items():
            op.execute(f"CREATE TRIGGER {name} {body}")
    elif dialect == "postgresql":
        op.execute(
            "ALTER TABLE pages ADD COLUMN search tsvector GENERATED ALWAYS AS ("
            "setweight(to_tsvector('english', coalesce(title, '')), 'A') || "
            "setweight(to_tsvector('simple', url), 'B') || "
            "setweight(to_tsvector('english', text), 'C')) STORED"
        )
        op.execute("CREATE INDEX ix_pages_search ON pages USING gin (search)")
        # The first tier of ranking: pages whose title holds every word (citevault.storage.search).
        op.execute("CREATE INDEX ix_pages_title_search ON pages "
                   "USING gin (to_tsvector('english', coalesce(title, '')))")
        op.execute('CREATE INDEX ix_pages_surt_c ON pages (surt COLLATE "C")')


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in _FTS_SYNC:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS pages_fts")
    op.drop_table('pages')
