"""Statements run on the driver's cursor (`DriverStatement`) give what SQLAlchemy's execution gives,
in the session's transaction, with driver errors wrapped as SQLAlchemy's; on SQLite and PostgreSQL."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from citevault.storage.db import open_index
from citevault.storage.driverstatement import DriverStatement
from citevault.storage.models import Capture, Link, Snapshot, Source, utcnow

ROW = dict(url="https://site.test/a", surt="test,site)/a", timestamp="20261207000000", status=200,
           mime="text/html", digest="sha1:AAAA", record_type="response", role="seed", via="http")


def test_insert_returning_and_select_as_sqlalchemy_gives_them(db_url: str) -> None:
    index = open_index(db_url)
    ins = DriverStatement(insert(Capture).returning(Capture.id))
    sel = DriverStatement(select(Capture.id, Capture.url, Capture.status).where(Capture.surt == ROW["surt"])
                          .order_by(Capture.id.desc()).limit(1))
    with Session(index.engine) as s:
        first = ins.first(s.connection(), ROW)
        assert first is not None
        # A row with other columns given (an error row): compiled for its own column set.
        second = ins.first(s.connection(), {**ROW, "status": None, "error": "refused", "digest": None})
        assert second is not None and second[0] > first[0]
        # Seen inside the transaction, by SQLAlchemy and by the driver statement alike.
        expected = (second[0], ROW["url"], None)
        assert sel.first(s.connection(), {}) == tuple(s.execute(sel.stmt).one()) == expected
        s.rollback()
    with Session(index.engine) as s:  # rolled back with the session: nothing was committed
        assert sel.first(s.connection(), {}) is None
        assert s.scalar(select(Capture.id).where(Capture.surt == ROW["surt"])) is None
    index.dispose()


def test_rows_run_many_are_all_there_in_order(db_url: str) -> None:
    index = open_index(db_url)
    with index.session() as s:
        cid = DriverStatement(insert(Capture).returning(Capture.id)).first(s.connection(), ROW)
        assert cid is not None
        rows = [{"capture_id": cid[0], "url": f"https://site.test/{i}",
                 "text": None if i % 2 else f"link {i}", "kind": "cited"} for i in range(2500)]
        DriverStatement(insert(Link)).run_many(s.connection(), rows)
        DriverStatement(insert(Link)).run_many(s.connection(), [])  # nothing to do
    with index.session() as s:
        got = s.execute(select(Link.capture_id, Link.url, Link.text, Link.kind).order_by(Link.id)).all()
        assert [tuple(r) for r in got] == [(r["capture_id"], r["url"], r["text"], r["kind"]) for r in rows]
    index.dispose()


def test_a_driver_error_comes_out_as_sqlalchemys(db_url: str) -> None:
    index = open_index(db_url)
    ins = DriverStatement(insert(Capture).returning(Capture.id))
    with Session(index.engine) as s, pytest.raises(IntegrityError) as caught:
        ins.first(s.connection(), {**ROW, "url": None})  # url is NOT NULL
    assert "INSERT INTO captures" in str(caught.value)
    links = DriverStatement(insert(Link))
    with Session(index.engine) as s, pytest.raises(IntegrityError):
        links.run_many(s.connection(), [{"capture_id": None, "url": "https://site.test/", "text": None,
                                         "kind": "cited"}])  # capture_id is NOT NULL
    index.dispose()


def test_a_statement_with_converted_types_is_run_by_sqlalchemy(db_url: str) -> None:
    """A DateTime column (a string on SQLite) comes back as a datetime, as SQLAlchemy returns it."""
    index = open_index(db_url)
    when = utcnow().replace(microsecond=0)
    with index.session() as s:
        src = Source(url="https://site.test/", surt="test,site)/", created_at=when)
        s.add(src)
        s.flush()
        s.add(Snapshot(source_id=src.id, trigger="cli", queued_at=when))
    with Session(index.engine) as s:
        got = DriverStatement(select(Snapshot.queued_at)).first(s.connection(), {})
        assert got == (when,)
    index.dispose()


def test_a_compiled_statement_keeps_its_dialect_whose_id_is_its_key(tmp_path: Path) -> None:
    """Compiled statements are found by the id of the dialect they were compiled for. An engine
    dropped and another made (in one process: tests, a one-off engine) could give the new dialect
    the old one's id, and with it SQL written for another driver; the compiled statement holds
    its dialect, so that id stays taken while it is in use."""
    sel = DriverStatement(select(Capture.id).where(Capture.surt == ROW["surt"]))
    index = open_index(f"sqlite:///{tmp_path / 'index.db'}")
    dialect = weakref.ref(index.engine.dialect)
    with Session(index.engine) as s:
        assert sel.first(s.connection(), {}) is None
    index.dispose()
    del index, s
    gc.collect()
    assert dialect() is not None
