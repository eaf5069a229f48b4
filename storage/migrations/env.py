"""Alembic environment: migrates the connection handed over in config.attributes["connection"]."""

from __future__ import annotations

from alembic import context

from citevault.storage.db import VERSION_TABLE
from citevault.storage.models import Base

# Tables and indexes that live in the database but not in the models: APScheduler's job store
# creates its own table; 0003 adds a PostgreSQL-only C-collation index for SURT range scans;
# f_search1 adds the full-text index (FTS5 tables on SQLite, a tsvector column on PostgreSQL),
# p_search2_title the FTS5 index of titles alone, p_search3_terms PostgreSQL's tsvectors in a table of
# their own.
_UNMODELLED = {
    "scheduler_jobs", "ix_captures_surt_c_ts", "pages_fts", "pages_fts_data", "pages_fts_idx",
    "pages_fts_docsize", "pages_fts_config", "ix_pages_search", "ix_pages_surt_c", "ix_pages_title_search",
    "pages_title_fts", "pages_title_fts_data", "pages_title_fts_idx", "pages_title_fts_docsize",
    "pages_title_fts_config", "page_terms",
}


def _include(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    return not (reflected and compare_to is None and name in _UNMODELLED)


connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    include_object=_include,
    render_as_batch=connection.dialect.name == "sqlite",
    version_table=VERSION_TABLE,
)
with context.begin_transaction():
    context.run_migrations()
