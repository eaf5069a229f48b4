"""one source per URL, enforced by the index: duplicates merged onto the earliest, then a unique index on sources.url

Revision ID: r_rel2_source_url
Revises: f_evidence
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = 'r_rel2_source_url'
down_revision = 'f_evidence'
branch_labels = None
depends_on = None

# The APScheduler job store (scheduler.JOB_TABLE): its jobs are named after a source id.
_JOBS = "scheduler_jobs"
_KEPT = ("note", "schedule", "browser")


def upgrade() -> None:
    bind = op.get_bind()
    has_jobs = sa.inspect(bind).has_table(_JOBS)
    groups = bind.execute(sa.text(
        "SELECT url, MIN(id) FROM sources GROUP BY url HAVING COUNT(*) > 1 ORDER BY MIN(id)")).all()
    for url, keeper in groups:
        _merge(bind, url, keeper, has_jobs)
    if bind.dialect.name == "postgresql":
        # Over md5(url): a B-tree entry holds at most ~2.7 kB and a URL can be longer; this index
        # adds no such limit of its own (look-ups go through the surt index, which has it).
        op.create_index('uq_sources_url', 'sources', [sa.text('md5(url)')], unique=True)
    else:
        op.create_index('uq_sources_url', 'sources', ['url'], unique=True)


def _merge(bind: Any, url: str, keeper: int, has_jobs: bool) -> None:
    """Move every snapshot and link check of the later sources of `url` onto the earliest, which
    keeps its own settings (a note, schedule or browser mode it lacks is taken from the newest
    duplicate that has one); then the duplicates and their scheduler jobs go (a schedule taken
    over from a duplicate gets its job back when the service starts, or from `citevault reindex`:
    both restore missing ones)."""
    cols = ", ".join(_KEPT)
    dups = bind.execute(sa.text(f"SELECT id, {cols} FROM sources WHERE url = :url AND id <> :keeper"
                                " ORDER BY id DESC"), {"url": url, "keeper": keeper}).all()
    ids = [row[0] for row in dups]
    in_ids = {"ids": ids, "keeper": keeper}
    for table in ("snapshots", "link_checks"):
        bind.execute(sa.text(f"UPDATE {table} SET source_id = :keeper WHERE source_id IN :ids")
                     .bindparams(sa.bindparam("ids", expanding=True)), in_ids)
    own = bind.execute(sa.text(f"SELECT {cols} FROM sources WHERE id = :keeper"), {"keeper": keeper}).one()
    merged = {col: own[i] if own[i] is not None else next((d[i + 1] for d in dups if d[i + 1] is not None), None)
              for i, col in enumerate(_KEPT)}
    bind.execute(sa.text("UPDATE sources SET note = :note, schedule = :schedule, browser = :browser"
                         " WHERE id = :keeper"), {**merged, "keeper": keeper})
    if has_jobs:
        jobs = [f"{kind}-{i}" for i in ids for kind in ("recapture", "check")]
        bind.execute(sa.text(f"DELETE FROM {_JOBS} WHERE id IN :jobs")
                     .bindparams(sa.bindparam("jobs", expanding=True)), {"jobs": jobs})
    bind.execute(sa.text("DELETE FROM sources WHERE id IN :ids")
                 .bindparams(sa.bindparam("ids", expanding=True)), {"ids": ids})


def downgrade() -> None:
    op.drop_index('uq_sources_url', table_name='sources')
