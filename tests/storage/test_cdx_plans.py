"""The /cdx lookups' query plans: B-tree scans in the answer order (no sort of what a range
holds), on SQLite and on PostgreSQL, and the migration that gives PostgreSQL that order."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Connection, text

from citevault.cdxsql import _select
from citevault.storage.db import open_index
from citevault.storage.models import Capture
from tests.conftest import index_at

# (range count, by key, closest side, newest first): exact, prefix, reverse prefix, closest
SHAPES = [(0, False, "", False), (1, True, "", False), (1, True, "", True), (0, False, "before", True),
          (0, False, "after", False)]
PARAMS = {"key": "com,example)/p/5", "lo0": "com,example)/p/1", "hi0": "com,example)/p/2",
          "ts": "20200101000000", "limit": 100, "after0": "com,example)/p/1", "after1": "20200101000000",
          "after2": 7}


def _captures(n: int) -> list[Capture]:
    return [Capture(url=f"http://example.com/p/{i % 50}", surt=f"com,example)/p/{i % 50}",
                    timestamp=f"20{10 + i % 15}0101000000", role="seed", warc="a.warc.gz", offset=i,
                    record_length=1, record_type="response", status=200) for i in range(n)]


def _plan(conn: Connection, stmt: Any, params: dict[str, Any]) -> str:
    compiled = stmt.compile(conn)
    values = compiled.construct_params(params)
    if conn.dialect.name == "sqlite":
        args = tuple(values[k] for k in compiled.positiontup or ())
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", args).all()
        return "\n".join(str(r[-1]) for r in rows)
    return "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {compiled}", values).all())


@pytest.mark.parametrize("rest", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_sqlite_lookups_are_index_range_scans_in_answer_order(
    tmp_path: Any, shape: tuple[Any, ...], rest: bool
) -> None:
    index = open_index(f"sqlite:///{tmp_path / 'index.db'}")
    try:
        with index.session() as s:
            s.add_all(_captures(500))
        with index.session() as s:
            s.execute(text("ANALYZE"))
            stmt = _select(False, *shape, (False, False), (), True, rest)
            params = PARAMS if shape[1] else PARAMS | {"after0": PARAMS["after1"], "after1": 7}
            plan = _plan(s.connection(), stmt, params)
        assert "USING INDEX ix_captures_surt_ts" in plan, plan
        assert "TEMP B-TREE" not in plan, plan  # the index gives the order, id included (rowid)
    finally:
        index.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("shape", SHAPES)
def test_postgresql_lookups_read_the_index_in_answer_order(pg_url: str, shape: tuple[Any, ...]) -> None:
    index = open_index(pg_url)
    try:
        with index.session() as s:
            s.add_all(_captures(2000))
        with index.session() as s:
            s.execute(text("ANALYZE captures"))
            # A table this small is read whole; what is checked is that the index gives the order.
            s.execute(text("SET LOCAL enable_seqscan = off"))
            s.execute(text("SET LOCAL enable_bitmapscan = off"))
            for rest in (False, True):
                stmt = _select(True, *shape, (False, False), (), True, rest)
                params = PARAMS if shape[1] else PARAMS | {"after0": PARAMS["after1"], "after1": 7}
                plan = _plan(s.connection(), stmt, params)
                assert "ix_captures_surt_c_ts_id" in plan, plan
                assert "Sort" not in plan, plan
    finally:
        index.dispose()


def test_the_migration_gives_an_existing_index_the_answer_order(db_url: str) -> None:
    """An index at the revision before, with captures: upgraded, same rows, the new index (and
    on PostgreSQL not the one it replaces)."""
    legacy = index_at(db_url, "p_search3_terms")
    with legacy.session() as s:
        s.add_all(_captures(120))
    legacy.dispose()
    index = open_index(db_url)  # migrates to HEAD
    try:
        with index.session() as s:
            assert s.scalar(text("SELECT count(*) FROM captures")) == 120
            if s.get_bind().dialect.name == "postgresql":
                names = set(s.scalars(text("SELECT indexname FROM pg_indexes WHERE tablename = 'captures'")))
                assert "ix_captures_surt_c_ts_id" in names and "ix_captures_surt_c_ts" not in names
                assert {"ix_captures_surt_ts", "captures_pkey"} <= names
    finally:
        index.dispose()
