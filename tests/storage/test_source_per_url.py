"""One source per URL, enforced by the index (issue 13 item 9): the migration merges the
duplicates an older version made, a concurrent submission of the same URL reuses the source the
other one created, and `reindex` rebuilds one source per URL; on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import IntegrityError
from warcio.statusandheaders import StatusAndHeaders

from citevault.archive import Archive
from citevault.config import Settings
from citevault.storage.db import open_index
from citevault.storage.models import Capture, LinkCheck, Snapshot, Source
from citevault.storage.reindex import reindex
from citevault.storage.warcstore import ROLE_HEADER, SNAPSHOT_HEADER, WarcStore
from tests.conftest import index_at

URL = "https://example.org/cited"
T0 = datetime(2024, 1, 1)


def _legacy_index(db_url: str) -> Any:
    """An index at the revision before the unique index, with what an older version wrote:
    three sources of URL (the earliest without a schedule), one of another URL."""
    index = index_at(db_url, "f_evidence")
    with index.session() as s:
        rows = [(URL, "first note", None), ("https://example.org/other", None, None),
                (URL, "second note", "every 6h"), (URL, None, "every 1d")]
        for i, (url, note, schedule) in enumerate(rows):
            src = Source(url=url, surt="org,example)/x", note=note, schedule=schedule, created_at=T0, depth=1,
                         scope="cited")
            s.add(src)
            s.flush()
            snap = Snapshot(source_id=src.id, trigger="cli", state="done", queued_at=T0)
            s.add(snap)
            s.flush()
            s.add(Capture(url=url, surt="x", timestamp=f"2024010100000{i}", snapshot_id=snap.id, role="seed",
                          warc="x.warc.gz", offset=i, record_length=1, record_type="response"))
            s.add(LinkCheck(source_id=src.id, url=url, checked_at=T0, outcome="alive"))
    return index


def test_the_migration_merges_duplicate_sources_onto_the_earliest(db_url: str) -> None:
    legacy = _legacy_index(db_url)
    with legacy.engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS scheduler_jobs (id VARCHAR(191) PRIMARY KEY,"
                          " next_run_time FLOAT, job_state BYTEA)".replace(
                              "BYTEA", "BLOB" if conn.dialect.name == "sqlite" else "BYTEA")))
        conn.execute(text("INSERT INTO scheduler_jobs (id) VALUES ('recapture-3'), ('recapture-4'),"
                          " ('check-1'), ('check-3')"))
    legacy.dispose()
    index = open_index(db_url)  # migrates to HEAD
    try:
        with index.session() as s:
            sources = s.execute(select(Source.id, Source.url, Source.note, Source.schedule)
                                .order_by(Source.id)).all()
            assert sources == [(1, URL, "first note", "every 1d"),
                               (2, "https://example.org/other", None, None)]
            # Nothing dropped: every snapshot, capture and link check is there, on the kept source.
            assert s.execute(select(Snapshot.id, Snapshot.source_id).order_by(Snapshot.id)).all() == [
                (1, 1), (2, 2), (3, 1), (4, 1)]
            assert s.scalar(select(func.count()).select_from(Capture)) == 4
            assert sorted(s.scalars(select(LinkCheck.source_id))) == [1, 1, 1, 2]
            jobs = s.scalars(text("SELECT id FROM scheduler_jobs ORDER BY id")).all()
            assert jobs == ["check-1"]  # the jobs of sources that are gone went with them
        with pytest.raises(IntegrityError), index.session() as s:
            s.add(Source(url=URL, surt="x", created_at=T0))
    finally:
        index.dispose()


def test_a_source_added_meanwhile_by_another_writer_is_reused(db_url: str) -> None:
    """Another submission of the URL commits its source between our look-up and our insert: ours
    meets the unique index, tries again and puts its snapshot on that source."""
    ours, theirs = Archive(Settings(database_url=db_url)), Archive(Settings(database_url=db_url))
    raced: list[int] = []

    def between(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not raced and statement.lstrip().upper().startswith("SELECT") and "FROM sources" in statement:
            raced.append(theirs.queue([URL], depth=0, note="theirs")[0].source_id)

    try:
        theirs.index  # noqa: B018  (migrated before the race)
        event.listen(ours.index.engine, "after_cursor_execute", between)
        queued = ours.queue([URL], depth=0)
        with ours.index.session() as s:
            assert s.execute(select(Source.id, Source.note)).all() == [(raced[0], "theirs")]
            assert s.scalars(select(Snapshot.source_id)).all() == [raced[0], raced[0]]
        assert queued[0].source_id == raced[0]
    finally:
        ours.close()
        theirs.close()


def test_concurrent_submissions_of_one_url_make_one_source(db_url: str) -> None:
    archives = [Archive(Settings(database_url=db_url)) for _ in range(6)]
    for a in archives:
        a.index  # noqa: B018
    start = threading.Barrier(len(archives))
    got: list[int] = []
    errors: list[BaseException] = []

    def submit(archive: Archive) -> None:
        start.wait(10)
        try:
            got.append(archive.queue([URL], depth=0)[0].source_id)
        except BaseException as exc:  # noqa: BLE001  (reported by the assertion below)
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(a,)) for a in archives]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert not errors and len(got) == len(archives) and len(set(got)) == 1
        with archives[0].index.session() as s:
            assert s.scalar(select(func.count()).select_from(Source)) == 1
            assert s.scalar(select(func.count()).select_from(Snapshot)) == len(archives)
    finally:
        for a in archives:
            a.close()


def _snapshot(store: WarcStore, key: str, created_at: str, note: str | None) -> None:
    """A snapshot's metadata record and its seed, as the recorder writes them."""
    store.write_metadata(URL, {
        "type": "citevault-snapshot", "snapshot_key": key,
        "source": {"url": URL, "note": note, "depth": 0, "scope": "cited", "schedule": None,
                   "created_at": created_at},
        "snapshot": {"trigger": "cli", "queued_at": created_at, "started_at": created_at, "attempt": 1},
    }, {SNAPSHOT_HEADER: key})
    store.write_exchange(
        URL, request_head=StatusAndHeaders("GET /cited HTTP/1.1", [("Host", "example.org")], protocol=""),
        response_head=StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1"),
        body=b"<p>page</p>", when=datetime.now(UTC),
        extra_headers={ROLE_HEADER: "seed", SNAPSHOT_HEADER: key},
    )


def test_reindex_makes_one_source_per_url(tmp_path: Path, db_url: str) -> None:
    """Metadata records an older version wrote for two sources of one URL (two creation times)
    come back as one source with both snapshots."""
    warcs = tmp_path / "warcs"
    with WarcStore(warcs, prefix="a") as store:
        _snapshot(store, "k1", "2024-01-02T03:04:05.000000Z", "first note")
    with WarcStore(warcs, prefix="b") as store:
        _snapshot(store, "k2", "2024-03-04T05:06:07.000000Z", None)
    index = open_index(db_url)
    try:
        result = reindex(index, warcs)
        assert (result.sources, result.snapshots, result.added) == (1, 2, 2)
        with index.session() as s:
            assert s.execute(select(Source.url, Source.note)).all() == [(URL, "first note")]
            assert s.scalar(select(func.count()).select_from(Snapshot)) == 2
        assert reindex(index, warcs).sources == 0  # and again: nothing new
    finally:
        index.dispose()
