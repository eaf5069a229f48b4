"""The page indexer beside a crawl: extraction goes on while a write waits for the lock a crawl
holds (SQLite); a write lock held past the busy timeout delays pages, never loses them nor ends
the indexer (a 100,000-URL run lost its indexer so: benchmarks/history/2026-12-07-and-before.md,
p-perf3, "Lock errors"); any other database error still ends it."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from citevault.crawler import pageindex
from citevault.crawler.metadata import html_metadata
from citevault.storage.db import Index, open_index
from citevault.storage.index import surt_key
from citevault.storage.models import Capture
from citevault.storage.pages import Page, store_pages

URLS = [f"https://news.test/{i}" for i in range(3)]


def _error(message: str) -> OperationalError:
    return OperationalError("INSERT INTO pages ...", {}, sqlite3.OperationalError(message))


@pytest.fixture
def index(tmp_path: Path) -> Iterator[Index]:
    index = open_index(f"sqlite:///{tmp_path / 'index.sqlite'}")
    with index.session() as s:
        s.add_all(Capture(url=u, surt=surt_key(u), timestamp="20261207180000", status=200, role="cited",
                          mime="text/html", record_type="response") for u in URLS)
    yield index
    index.dispose()


def _found(index: Index) -> list[tuple[Capture, dict[str, Any]]]:
    with index.session() as s:
        caps = list(s.scalars(select(Capture).order_by(Capture.id)))
        s.expunge_all()
    page = "<html><title>Page {}</title><p>text</p></html>"
    return [(c, html_metadata(page.format(c.id).encode(), c.url).as_dict()) for c in caps]


def _stored(index: Index) -> list[str]:
    with index.session() as s:
        return [p.title or "" for p in s.scalars(select(Page).order_by(Page.capture_id))]


def test_extraction_goes_on_while_the_crawl_holds_the_write_lock(index: Index, tmp_path: Path) -> None:
    found = _found(index)
    crawl = sqlite3.connect(tmp_path / "index.sqlite", isolation_level=None)
    crawl.execute("BEGIN IMMEDIATE")  # the crawl's recorder, mid-transaction
    writer = pageindex.PageWriter(index)
    try:
        writer.put(found[:2])  # returns at once: the extraction thread never waits for the lock
        writer.put(found[2:])
        assert writer.in_flight() == [c.id for c, _ in found]  # a pass skips them: not extracted twice
        assert _stored(index) == []
    finally:
        crawl.execute("COMMIT")
        crawl.close()
    assert writer.close() == 3
    assert _stored(index) == ["Page 1", "Page 2", "Page 3"] and writer.in_flight() == []


def test_a_write_busy_past_the_timeout_is_tried_again(index: Index, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    retried = threading.Event()

    def busy_once(session: Session, items: list[tuple[Capture, dict[str, Any]]]) -> int:
        calls.append(len(items))
        if len(calls) == 1:
            raise _error("database is locked")
        retried.set()
        return store_pages(session, items)

    monkeypatch.setattr(pageindex, "store_pages", busy_once)
    writer = pageindex.PageWriter(index)
    writer.put(_found(index))
    assert retried.wait(60)  # while the crawl runs (close() not called yet)
    assert writer.close() == 3
    assert calls == [3, 3] and len(_stored(index)) == 3


@pytest.mark.parametrize("message", ["no such table: pages", "database is locked"])
def test_other_errors_and_a_busy_database_at_the_end_end_it(
    index: Index, monkeypatch: pytest.MonkeyPatch, message: str
) -> None:
    """After the crawl nothing should hold the lock: waiting on would hang the capture."""
    def failing(session: Session, items: object) -> int:
        raise _error(message)

    monkeypatch.setattr(pageindex, "store_pages", failing)
    writer = pageindex.PageWriter(index)
    if message == "database is locked":
        writer._closing = True  # as close() sets it before the writer takes the last pages
    writer.put(_found(index))
    with pytest.raises(OperationalError, match=message):
        writer.close()
    with pytest.raises(OperationalError, match=message):  # the extraction stops at its next put
        writer.put(_found(index))


def test_a_read_busy_past_the_timeout_ends_the_pass_early(
    index: Index, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def busy(*args: object, **kwargs: object) -> list[Capture]:
        raise _error("database is locked")

    writer = pageindex.PageWriter(index)
    monkeypatch.setattr(pageindex, "_pending", busy)
    assert pageindex.index_while_crawling(index, tmp_path, [1], writer) == 0
    monkeypatch.setattr(pageindex, "_pending", lambda *a, **k: (_ for _ in ()).throw(_error("no such table")))
    with pytest.raises(OperationalError):
        pageindex.index_while_crawling(index, tmp_path, [1], writer)
    assert writer.close() == 0



def test_the_last_pass_tries_a_busy_read_again_from_where_it_stopped(
    index: Index, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """After the crawl there is no next pass: a busy read is tried again, the pages queued so far
    kept and none extracted twice, up to the bound; then the busy error ends the indexer."""
    pages = dict((c.id, (c, meta)) for c, meta in _found(index))
    reads: list[str] = []

    def busy_every_other(index: Index, ids: object, after: int, limit: int,
                         skip: list[int] | None = None) -> list[Capture]:
        reads.append("busy" if len(reads) % 2 else "read")
        if reads[-1] == "busy":
            raise _error("database is locked")
        return [c for i, (c, _) in pages.items() if i > after and i not in (skip or [])][:limit]

    extracted: list[int] = []

    def extract(warc_dir: Path, caps: list[Capture]) -> list[tuple[Capture, dict[str, Any]]]:
        extracted.extend(c.id for c in caps)
        return [pages[c.id] for c in caps]

    monkeypatch.setattr(pageindex, "_BATCH", 1)
    monkeypatch.setattr(pageindex, "_pending", busy_every_other)
    monkeypatch.setattr(pageindex, "_extract", extract)
    writer = pageindex.PageWriter(index)
    # read, busy, read, busy, read (each page once), busy for the third time: the bound.
    assert pageindex._LAST_PASS_TRIES == 3
    with pytest.raises(OperationalError, match="database is locked"):
        pageindex.index_while_crawling(index, tmp_path, [1], writer, busy_tries=3)
    assert reads == ["read", "busy"] * 3 and extracted == [1, 2, 3]
    assert writer.close() == 3 and _stored(index) == ["Page 1", "Page 2", "Page 3"]
    # A busy read that gives way within the bound: the pass ends complete, without an error.
    reads.clear()
    extracted.clear()
    pages.pop(3)
    writer = pageindex.PageWriter(index)
    assert pageindex.index_while_crawling(index, tmp_path, [1], writer, busy_tries=3) == 2
    assert reads == ["read", "busy", "read", "busy", "read"] and extracted == [1, 2]
    writer.close()


def test_an_indexer_ended_by_a_busy_index_says_so_in_one_line(
    index: Index, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The indexer shares `add`'s stderr: when the index stays busy past the last pass's bound,
    or any other error ends it, the user reads one line naming what to run, not a traceback."""
    raised: list[str] = []

    def last_pass(*args: object, busy_tries: int = 1, **kwargs: object) -> int:
        if busy_tries > 1:
            raise _error(raised[-1])
        return 0

    monkeypatch.setattr(pageindex, "index_while_crawling", last_pass)
    missing = "OperationalError: (sqlite3.OperationalError) no such table: pages"
    for message, why in (("database is locked", "the index stayed busy"), ("no such table: pages", missing)):
        raised.append(message)
        job_r, job_w = os.pipe()
        os.write(job_w, json.dumps({"database_url": str(index.engine.url), "warc_dir": str(tmp_path),
                                    "snapshot_ids": [1]}).encode() + b"\n")
        os.close(job_w)  # the job, then the end of the crawl
        with open(job_r, "rb", buffering=0) as raw, io.TextIOWrapper(io.BufferedReader(raw)) as stdin:
            monkeypatch.setattr(sys, "stdin", stdin)
            with pytest.raises(SystemExit) as caught:
                pageindex._child_main()
        assert caught.value.code == 1
        assert capsys.readouterr().err == (
            f"citevault: page indexing stopped, {why}; "
            "`citevault reindex` indexes the pages left (search, metadata)\n")
