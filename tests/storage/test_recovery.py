"""Crash recovery: `.open` WARC files a dead writer left are cut to their last complete record,
closed and renamed; `reindex` indexes them; lost `running` snapshots are settled, not re-run."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select, update
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders

from citevault.archive import Archive
from citevault.config import Settings
from citevault.storage.db import open_index
from citevault.storage.models import Capture, Link, Snapshot
from citevault.storage.pages import Page
from citevault.storage.recovery import complete_length, recover_open_files
from citevault.storage.reindex import reindex
from citevault.storage.search import SearchQuery, search
from citevault.storage.verify import verify
from citevault.storage.warcreader import read_payload
from citevault.storage.warcstore import WarcStore
from citevault.workqueue import WorkQueue

# A writer that records pages through the real recorder, commits the rows, starts one more
# record and dies by SIGKILL in the middle of writing it.
_CRASHING_WRITER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from citevault.crawler.recorder import CaptureRecorder, Exchange
    from citevault.storage.db import open_index
    from citevault.storage.models import Snapshot, Source
    from citevault.storage.warcstore import WarcStore
    from datetime import datetime
    db, warcs, n = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    index = open_index(db)
    with index.session() as s:
        src = Source(url="https://crash.example/", surt="x", depth=1, scope="cited",
                     created_at=datetime(2026, 1, 1))
        s.add(src); s.flush()
        s.add(Snapshot(source_id=src.id, trigger="cli", state="queued", queued_at=datetime(2026, 1, 1)))
    store = WarcStore(warcs)
    rec = CaptureRecorder(index, store, batch_size=1000)
    rec.start_snapshot(1)
    for i in range(n):
        ex = Exchange(url=f"https://crash.example/{i}", method="GET", request_headers=[], status=200,
                      response_headers=[("Content-Type", "text/html")], body=os.urandom(3000))
        rec.record(1, ex, role="seed" if i == 0 else "cited")
    rec.commit()
    for i in range(int(sys.argv[4]) if len(sys.argv) > 4 else 0):  # written whole, never committed
        body = (f"<html><head><title>Pending report {i}</title></head><body><article><h1>Pending "
                f"report {i}</h1><p>{'The ministry said the river flooded the valley again. ' * 12}"
                f"</p><p>Read <a href='https://cited.example/{i}'>the ministry statement</a>.</p>"
                "</article></body></html>").encode()
        ex = Exchange(url=f"https://crash.example/pending/{i}", method="GET", request_headers=[],
                      status=200, response_headers=[("Content-Type", "text/html")], body=body)
        rec.record(1, ex, role="cited")
    fh = store._fh
    fh.write(b"\\x1f\\x8b\\x08\\x00" + os.urandom(500))  # a torn gzip member: the crash
    fh.flush()
    os.kill(os.getpid(), signal.SIGKILL)
""")


def _crash(db: str, warcs: Path, n: int = 5, pending: int = 0) -> None:
    proc = subprocess.run([sys.executable, "-c", _CRASHING_WRITER, db, str(warcs), str(n), str(pending)],
                          capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()


def test_a_dead_writers_open_file_is_cut_closed_and_renamed(tmp_path: Path) -> None:
    db, warcs = f"sqlite:///{tmp_path / 'i.db'}", tmp_path / "warcs"
    _crash(db, warcs)
    [opened] = list(warcs.glob("*.open"))
    size = opened.stat().st_size
    [got] = recover_open_files(warcs)
    assert not list(warcs.glob("*.open")) and (warcs / got.name).exists()
    assert got.cut > 0 and got.kept + got.cut == size and not got.removed
    with open(warcs / got.name, "rb") as fh:
        types = [r.rec_type for r in ArchiveIterator(fh)]  # reads to the end without an error
    assert types.count("response") == 5 and types[0] == "warcinfo"
    index = open_index(db)
    try:
        assert verify(index, warcs) == []  # every committed row reads back under the final name
        with index.session() as s:
            cap = s.scalars(select(Capture).where(Capture.warc.is_not(None))).first()
            assert cap is not None and cap.warc == got.name and cap.offset is not None
        assert read_payload(warcs, got.name, cap.offset).payload
    finally:
        index.dispose()
    assert recover_open_files(warcs) == []  # nothing left to do


def test_recovery_indexes_records_never_committed_with_their_links_and_text(tmp_path: Path) -> None:
    db, warcs = f"sqlite:///{tmp_path / 'i.db'}", tmp_path / "warcs"
    _crash(db, warcs, n=2, pending=3)
    settings = Settings(home=tmp_path / "home", database_url=db, warc_dir=warcs)
    with Archive(settings) as archive:
        with archive.index.session() as s:
            assert s.scalar(select(func.count(Capture.id))) == 2  # what the crash left indexed
        assert archive.recover_files()
        with archive.index.session() as s:
            pending = {c.url: c.id for c in s.scalars(
                select(Capture).where(Capture.url.like("https://crash.example/pending/%")))}
            assert len(pending) == 3
            links = s.execute(select(Link.capture_id, Link.url).where(Link.kind == "cited")).all()
            titles = dict(s.execute(select(Page.capture_id, Page.title)).all())
        assert sorted(links) == sorted((pending[f"https://crash.example/pending/{i}"],
                                        f"https://cited.example/{i}") for i in range(3))
        assert {titles.get(cid) for cid in pending.values()} == {f"Pending report {i}" for i in range(3)}
        with archive.index.session() as s:
            hits = search(s, SearchQuery(q="river flooded the valley"))
        assert {h.url for h in hits} == set(pending)


def test_a_live_writers_open_file_is_left_alone_and_reindexed(tmp_path: Path) -> None:
    warcs = tmp_path / "warcs"
    store = WarcStore(warcs)
    store.write_metadata("https://live.example/", {"x": 1}, {})
    try:
        assert recover_open_files(warcs) == []
        [opened] = list(warcs.glob("*.open"))
        with open(opened, "rb") as fh:
            assert complete_length(fh) == opened.stat().st_size
    finally:
        store.close()
    assert not list(warcs.glob("*.open"))


def test_reindex_recovers_and_indexes_open_files(tmp_path: Path) -> None:
    db, warcs = f"sqlite:///{tmp_path / 'i.db'}", tmp_path / "warcs"
    _crash(db, warcs)
    rebuilt = open_index(f"sqlite:///{tmp_path / 'rebuilt.db'}")
    try:
        result = reindex(rebuilt, warcs)
        assert result.recovered and result.added == 5
        with rebuilt.session() as s:
            assert s.scalar(select(func.count(Capture.id))) == 5
            assert s.scalar(select(Snapshot.state)) == "done"
        assert verify(rebuilt, warcs) == []
    finally:
        rebuilt.dispose()


def test_reindex_indexes_a_live_open_file_under_its_final_name(tmp_path: Path) -> None:
    db, warcs = f"sqlite:///{tmp_path / 'i.db'}", tmp_path / "warcs"
    index = open_index(db)
    store = WarcStore(warcs)
    try:
        written = store.write_exchange(
            "https://live.example/", request_head=_head("GET / HTTP/1.1"), body=b"hello",
            response_head=_head("200 OK"), when=datetime.now(UTC),
        )
        result = reindex(index, warcs)
        assert result.added == 1 and result.recovered == []
        with index.session() as s:
            cap = s.scalars(select(Capture)).one()
        assert cap.warc == written.warc and not cap.warc.endswith(".open")
    finally:
        store.close()
        index.dispose()


def _head(line: str) -> StatusAndHeaders:
    return StatusAndHeaders(line, [("Content-Type", "text/plain")], protocol="HTTP/1.1")


def test_a_lost_snapshot_with_captures_is_settled_not_run_again(tmp_path: Path) -> None:
    db, warcs = f"sqlite:///{tmp_path / 'i.db'}", tmp_path / "warcs"
    _crash(db, warcs)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    settings = Settings(home=tmp_path / "home", database_url=db, warc_dir=warcs)
    with Archive(settings) as archive:
        with archive.index.session() as s:
            s.execute(update(Snapshot).values(claimed_by=f"{socket.gethostname()}:{dead}"))
            assert s.scalar(select(Snapshot.state)) == "running"
        assert WorkQueue(archive.index).recover() == []  # not queued again...
        with archive.index.session() as s:
            snap = s.scalars(select(Snapshot)).one()
        # ...but settled from what it captured: the seed is there, the crawl did not finish.
        assert snap.state == "partial" and "interrupted" in (snap.error or "")
        assert archive.recover_files()  # and `add`/`serve` close its WARC file on start
    assert not list(warcs.glob("*.open")) and os.listdir(warcs)


def test_lost_service_work_is_settled_and_queued_afresh(tmp_path: Path) -> None:
    db, warcs = f"sqlite:///{tmp_path / 'i.db'}", tmp_path / "warcs"
    _crash(db, warcs)
    settings = Settings(home=tmp_path / "home", database_url=db, warc_dir=warcs)
    with Archive(settings) as archive:
        with archive.index.session() as s:
            s.execute(update(Snapshot).values(trigger="api", claimed_by="gone-host:1",
                                              heartbeat_at=datetime(2000, 1, 1)))
        [fresh] = WorkQueue(archive.index).recover()
        with archive.index.session() as s:
            old, new = s.scalars(select(Snapshot).order_by(Snapshot.id)).all()
        assert old.state == "partial" and new.id == fresh and new.state == "queued"
        assert new.source_id == old.source_id and new.attempts == old.attempts == 1
        with archive.index.session() as s:  # the settled one keeps its captures, once each
            urls = s.scalars(select(Capture.url).where(Capture.snapshot_id == old.id)).all()
        assert len(urls) == len(set(urls)) == 5
