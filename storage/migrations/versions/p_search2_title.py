"""pages_title_fts: a title-only FTS5 index on SQLite, for the first ranking tier of search

Revision ID: p_search2_title
Revises: r_rel2_source_url
"""

from __future__ import annotations

from alembic import op

revision = 'p_search2_title'
down_revision = 'r_rel2_source_url'
branch_labels = None
depends_on = None

# The first tier of citevault.storage.search (pages whose title holds every word) read the
# title column of pages_fts, which walks each word's whole doclist over every column: 11 ms a
# query at 100,000 pages, against 0.1-1.5 ms on this index of titles alone (~40 bytes a page,
# benchmarks/search_bench.py). PostgreSQL has its own (ix_pages_title_search, f_search1).
_SYNC = {
    "pages_title_ai": "AFTER INSERT ON pages BEGIN INSERT INTO pages_title_fts(rowid, title) "
                      "VALUES (new.capture_id, new.title); END",
    "pages_title_ad": "AFTER DELETE ON pages BEGIN INSERT INTO pages_title_fts(pages_title_fts, rowid, title) "
                      "VALUES ('delete', old.capture_id, old.title); END",
    "pages_title_au": "AFTER UPDATE ON pages BEGIN INSERT INTO pages_title_fts(pages_title_fts, rowid, title) "
                      "VALUES ('delete', old.capture_id, old.title); "
                      "INSERT INTO pages_title_fts(rowid, title) VALUES (new.capture_id, new.title); END",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        "CREATE VIRTUAL TABLE pages_title_fts USING fts5(title, content='pages', "
        "content_rowid='capture_id', tokenize='porter unicode61 remove_diacritics 2')"
    )
    for name, body in _SYNC.items():
        op.execute(f"CREATE TRIGGER {name} {body}")
    op.execute("INSERT INTO pages_title_fts(pages_title_fts) VALUES ('rebuild')")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in _SYNC:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS pages_title_fts")
