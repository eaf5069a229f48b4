"""Index queries on SQLite and on PostgreSQL: migrations, closest capture, history, digests."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select

from citevault.storage.db import open_index
from citevault.storage.errors import BadInput, NotFound
from citevault.storage.index import (
    closest_capture,
    history,
    latest_with_digest,
    parse_timestamp,
    surt_key,
)
from citevault.storage.models import Capture

URL = "https://www.example.test/a/page?id=1"


def _cap(ts: str, digest: str = "sha1:AAAA", rtype: str = "response", url: str = URL) -> Capture:
    return Capture(url=url, surt=surt_key(url), timestamp=ts, status=200, digest=digest,
                   warc="x.warc.gz", offset=0, record_length=1, record_type=rtype, role="seed")


def test_migrations_create_schema_and_are_idempotent(db_url: str) -> None:
    index = open_index(db_url)
    index.migrate()  # a second run is a no-op
    tables = set(inspect(index.engine).get_table_names())
    assert {"sources", "snapshots", "captures", "links", "link_checks", "api_tokens"} <= tables
    index.dispose()


def test_closest_and_history(db_url: str) -> None:
    index = open_index(db_url)
    with index.session() as s:
        s.add_all([_cap("20200101000000"), _cap("20220101000000", "sha1:BBBB"),
                   _cap("20240101000000", "sha1:AAAA", "revisit"),
                   _cap("20230101000000", url="https://www.example.test/other")])
        s.add(Capture(url=URL, surt=surt_key(URL), timestamp="20250101000000", role="seed",
                      error="timed out"))
    with index.session() as s:
        assert [c.timestamp for c in history(s, URL)] == [
            "20200101000000", "20220101000000", "20240101000000", "20250101000000"]
        # SURT equality: scheme, www. and letter case do not matter.
        assert len(history(s, "http://EXAMPLE.test/a/page?id=1")) == 4
        assert closest_capture(s, URL).timestamp == "20240101000000"  # newest with a record
        assert closest_capture(s, URL, "2021").timestamp == "20220101000000"
        assert closest_capture(s, URL, "20201").timestamp == "20200101000000"
        assert closest_capture(s, URL, "1990").timestamp == "20200101000000"
        assert closest_capture(s, URL, "2099").timestamp == "20240101000000"
        assert latest_with_digest(s, URL, "sha1:AAAA").timestamp == "20200101000000"  # type: ignore[union-attr]
        assert latest_with_digest(s, URL, "sha1:CCCC") is None
        with pytest.raises(NotFound):
            closest_capture(s, "https://nowhere.test/")
    index.dispose()


def test_memento_neighbours_and_browser_records(db_url: str) -> None:
    """The Link header's four neighbours in one statement, and the as-seen check, on both
    backends (a UNION ALL of limited subqueries; bound parameters of cached statements)."""
    from citevault.asseen import _has_views
    from citevault.memento import Memento, _neighbours

    index = open_index(db_url)
    with index.session() as s:
        s.add_all([_cap("20200101000000"), _cap("20220101000000"), _cap("20240101000000"),
                   _cap("20230101000000", url="https://www.example.test/other")])
        s.add(Capture(url=URL, surt=surt_key(URL), timestamp="20210101000000", role="seed", error="x"))
    with index.session() as s:
        assert _neighbours(s, URL, "20220101000000") == {
            "first": Memento("20200101000000", URL), "last": Memento("20240101000000", URL),
            "prev": Memento("20200101000000", URL), "next": Memento("20240101000000", URL)}
        assert _neighbours(s, URL, "20200101000000")["prev"] is None
        assert _neighbours(s, "https://nowhere.test/", "20200101000000") == dict.fromkeys(
            ("first", "last", "prev", "next"))
        assert not _has_views(s, URL)
        s.add(_cap("20220101000001", url=f"urn:fullPage:{URL}"))
        s.flush()
        assert _has_views(s, URL)
        assert not _has_views(s, "https://www.example.test/other")
    index.dispose()


@pytest.mark.parametrize("bad", ["", "abc", "2026-11-03", "202613", "20261131", "123456789012345"])
def test_bad_timestamps(bad: str) -> None:
    with pytest.raises(BadInput):
        parse_timestamp(bad)


def test_timestamp_prefixes() -> None:
    assert parse_timestamp("2026") == "20260101000000"
    assert parse_timestamp("202611") == "20261101000000"
    assert parse_timestamp("20261103") == "20261103000000"
    assert parse_timestamp("20261103123456") == "20261103123456"


def test_head_constant_matches_the_migration_scripts() -> None:
    from alembic.script import ScriptDirectory

    from citevault.storage.db import _alembic_config
    from citevault.storage.migrations import HEAD

    assert ScriptDirectory.from_config(_alembic_config()).get_current_head() == HEAD


def test_migrate_skips_alembic_when_current(db_url: str) -> None:
    index = open_index(db_url)
    assert index.current_revision() is not None
    index.migrate()  # no-op, and no error
    index.dispose()


def test_reading_sessions_open_no_transaction_on_postgresql(pg_url: str) -> None:
    """Index.reading (the web's lookups) runs in autocommit: a lookup is its statements' round
    trips only, with no BEGIN before them nor COMMIT after; the pooled connection goes back to
    transactions for the writers that use it next."""
    from psycopg.pq import TransactionStatus

    index = open_index(pg_url)
    try:
        with index.session() as s:
            s.add(_cap("20200101000000"))
        with index.reading() as s:
            assert closest_capture(s, URL, None).timestamp == "20200101000000"
            status = s.connection().connection.dbapi_connection.info.transaction_status  # type: ignore[union-attr]
            assert status == TransactionStatus.IDLE
        with index.session() as s:
            assert s.scalar(select(Capture.timestamp)) == "20200101000000"
            status = s.connection().connection.dbapi_connection.info.transaction_status  # type: ignore[union-attr]
            assert status == TransactionStatus.INTRANS
    finally:
        index.dispose()
