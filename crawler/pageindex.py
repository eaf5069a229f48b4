"""Page metadata and full-text indexing of archived pages, kept off the crawl: a child process
extracts the captures of a crawl's snapshots while the crawl runs (on the other core), and
finishes them once the crawl is over. `reindex` runs the same extraction over everything."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import selectors
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import OperationalError

from citevault.storage.db import Index, open_index
from citevault.storage.errors import CitevaultError, is_busy
from citevault.storage.models import Capture
from citevault.storage.pages import Page, store_pages
from citevault.storage.warcreader import read_payload

from .forkedprocess import read_job
from .forkserver import ForkedChild, start_child
from .metadata import metadata_of

__all__ = ["PageIndexer", "PageWriter", "index_pages", "index_while_crawling", "rehearse"]

_HTML = ("text/html", "application/xhtml+xml")
_JSON = ("application/json", "application/json+oembed", "text/json")
_MAX_PAYLOAD = 5_000_000  # bigger "pages" are data files: not parsed for metadata
_BATCH = 32
_POLL = 0.5  # seconds between looks for new captures while the crawl runs
# Reads of the last pass that may find the database busy past its timeout (SQLite: 30 s each,
# another capture writing): a bound, so that a capture never hangs on its indexer.
_LAST_PASS_TRIES = 3
_LEFT = "`citevault reindex` indexes the pages left (search, metadata)"
_TRIM_AFTER = 256_000  # bytes of a payload after which freed memory is handed back (`_trim`)
# How far extraction may run ahead of the writes (PageWriter): pages, and characters of text
# (a page's text is at most metadata.MAX_TEXT, 200,000).
_AHEAD_PAGES = 256
_AHEAD_CHARS = 8_000_000


def _pending(
    index: Index, snapshot_ids: list[int] | None, after: int, limit: int, skip: list[int] | None = None,
) -> list[Capture]:
    with index.session() as s:
        stmt = select(Capture).where(
            Capture.id > after, Capture.warc.is_not(None),
            or_(Capture.mime.in_(_HTML), and_(Capture.mime.in_(_JSON), Capture.url.contains("oembed"))),
            Capture.record_type.in_(("response", "resource")),
            Capture.length <= _MAX_PAYLOAD,
            # A redirect's body is a stub ("Moved"), not the page.
            or_(Capture.status.is_(None), Capture.status < 300, Capture.status >= 400),
            ~select(Page.capture_id).where(Page.capture_id == Capture.id).exists(),
        )
        if snapshot_ids is not None:
            stmt = stmt.where(Capture.snapshot_id.in_(snapshot_ids))
        if skip:
            stmt = stmt.where(Capture.id.not_in(skip))
        rows = list(s.scalars(stmt.order_by(Capture.id).limit(limit)))
        s.expunge_all()
        return rows


def rehearse(index: Index) -> None:
    """The page indexer's queries, once, reading nothing: run by the fork server on the engine
    its children share (storage.db.prepare_engine), so that each page indexer finds them
    compiled and SQLAlchemy's first ORM load done (11-13 ms of CPU a job)."""
    _pending(index, [], 0, _BATCH)
    _pending(index, [], 0, _BATCH, skip=[0])  # with pages in flight: another statement


def _extract(warc_dir: Path, caps: list[Capture]) -> list[tuple[Capture, dict[str, Any]]]:
    """The metadata of each capture's payload (pages with none, or unreadable, are left out)."""
    found: list[tuple[Capture, dict[str, Any]]] = []
    big = False
    for cap in caps:
        assert cap.warc is not None and cap.offset is not None  # selected so
        try:
            payload = read_payload(warc_dir, cap.warc, cap.offset).decoded
        except CitevaultError:
            continue  # a missing or damaged record: `verify` reports it
        meta = metadata_of(cap.mime, payload, cap.url)
        big = big or len(payload) > _TRIM_AFTER
        if meta is not None:
            found.append((cap, meta.as_dict()))
    if big:
        _trim()
    return found


def index_pages(
    index: Index, warc_dir: Path, snapshot_ids: list[int] | None = None,
    on_page: Callable[[int], None] | None = None,
) -> int:
    """Extract and store the metadata of every archived HTML page and oEmbed document (of these
    snapshots, or all) that has none yet. Returns how many pages were added."""
    added, after = 0, 0
    while caps := _pending(index, snapshot_ids, after, _BATCH):
        after = caps[-1].id
        if found := _extract(warc_dir, caps):
            with index.session() as s:
                added += store_pages(s, found)
            if on_page:
                on_page(added)
    return added


class PageWriter:
    """Stores the pages extracted beside a crawl from a thread of its own, so that extraction
    goes on while a write waits for the database. On SQLite a crawl holds the write lock most of
    the time (its recorder keeps a transaction open for up to 0.25 s, then opens the next), and
    an indexer that extracted a batch, then waited for the lock, then extracted the next, got
    little done while the crawl ran: the 500-page benchmark crawl ended with two thirds of the
    indexer's work still to do, after the crawl, inside the command's time (benchmarks/history/
    2026-12-07-p-ext6-eve.md). What waits here is bounded (`max_pages`, `max_chars` of text):
    past that, extraction waits for the writer. Pages queued but not yet stored are
    `in_flight`, so a pass does not extract them again."""

    def __init__(self, index: Index, *, max_pages: int = _AHEAD_PAGES, max_chars: int = _AHEAD_CHARS) -> None:
        self.index = index
        self.max_pages, self.max_chars = max_pages, max_chars
        self.added = 0
        self._cond = threading.Condition()
        self._queue: list[tuple[Capture, dict[str, Any]]] = []
        self._chars = 0
        self._in_flight: set[int] = set()
        self._error: BaseException | None = None
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="citevault-pagewriter", daemon=True)
        self._thread.start()

    def in_flight(self) -> list[int]:
        with self._cond:
            return sorted(self._in_flight)

    def put(self, found: list[tuple[Capture, dict[str, Any]]]) -> None:
        """Queue pages to store; waits while the queue is full. Raises what ended the writer."""
        if not found:
            return
        chars = sum(len(meta.get("text") or "") for _, meta in found)
        with self._cond:
            while self._error is None and self._queue and (
                len(self._queue) >= self.max_pages or self._chars >= self.max_chars
            ):
                self._cond.wait()
            self._raise()
            self._queue.extend(found)
            self._chars += chars
            self._in_flight.update(cap.id for cap, _ in found)
            self._cond.notify_all()

    def close(self) -> int:
        """Store what is queued (a busy database is now an error), stop; pages stored in all."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        self._raise()
        return self.added

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                # Everything queued, in one transaction: each write the crawl waits for costs
                # it the write and the sleep of SQLite's busy handler; fewer writes, fewer sleeps.
                batch, self._queue, self._chars = self._queue, [], 0
                self._cond.notify_all()
            try:
                stored = self._store(batch)
            except BaseException as exc:  # handed to the extracting thread by put() and close()
                with self._cond:
                    self._error = exc
                    self._cond.notify_all()
                return
            with self._cond:
                self.added += stored
                self._in_flight.difference_update(cap.id for cap, _ in batch)

    def _store(self, batch: list[tuple[Capture, dict[str, Any]]]) -> int:
        while True:
            try:
                with self.index.session() as s:
                    return store_pages(s, batch)
            except OperationalError as exc:
                # A write lock held by the crawl past the busy timeout (SQLite: a crawl queueing
                # a 100,000-link hub's requests) only delays these pages, kept here; after the
                # crawl nothing should hold it, and waiting longer would hang the capture.
                if not is_busy(exc) or self._closing:
                    raise


def index_while_crawling(
    index: Index, warc_dir: Path, snapshot_ids: list[int], writer: PageWriter, after: int = 0,
    *, busy_tries: int = 1,
) -> int:
    """One pass beside a running crawl: extracts the pages after capture id `after` that are
    neither stored nor queued yet and queues them to `writer`. Returns the last capture id it
    looked at, where the next pass may start: without it each pass scanned the crawl's every
    capture again (77 ms a pass at 100,000 captures, every `_POLL`). A read that finds the
    database busy past its timeout only ends the pass early: the rest waits for the next one.
    The last pass, after the crawl, has no next one: with `busy_tries` > 1 such a read is tried
    again from where it stopped (the pages queued so far kept), that many reads in all, and then
    its error ends the indexer, as a busy write does then (the pages left wait for `reindex`)."""
    for tried in range(1, busy_tries + 1):
        try:
            while caps := _pending(index, snapshot_ids, after, _BATCH, skip=writer.in_flight()):
                writer.put(_extract(warc_dir, caps))
                after = caps[-1].id
                if len(caps) < _BATCH:
                    break  # all there was: not a second read to find nothing (3 ms of CPU)
            break
        except OperationalError as exc:
            if not is_busy(exc) or (busy_tries > 1 and tried == busy_tries):
                raise
    return after


def _trim() -> None:
    """Hand the heap's free pages back to the system: the parse trees of a big page are freed,
    but glibc keeps their pages, and the indexer lives as long as the crawl (its RSS would stay
    at its biggest page's)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


class PageIndexer:
    """The child process indexing a crawl's pages: started before the crawl, told at the end
    (its stdin closes) to do a last pass and exit. A crawl killed outright closes the pipe too."""

    def __init__(self, database_url: str, warc_dir: str, snapshot_ids: list[int]) -> None:
        self.args = {"database_url": database_url, "warc_dir": warc_dir, "snapshot_ids": snapshot_ids}
        self.proc: subprocess.Popen[str] | ForkedChild | None = None

    def start(self) -> PageIndexer:
        # Forked by the crawl's fork server when the crawl was (forkserver.py), else a new
        # interpreter: never a fork server of its own for one child.
        self.proc = start_child("citevault.crawler.pageindex", output=False, start_server=False)
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(self.args) + "\n")
        self.proc.stdin.flush()
        return self

    def __enter__(self) -> PageIndexer:
        return self.start()

    def finish(self, timeout: float | None = None) -> int | None:
        """Let it finish the pages (waits up to `timeout` seconds, then stops it); its exit code."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        assert proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # On an error the crawl's pages are still indexed by the next `reindex`; do not wait long.
        self.finish(None if exc_type is None else 5.0)


def _child_main(parent: int | None = None) -> None:
    """Index while the parent crawls; after its stdin closes, a last pass, then exit. (`parent`:
    the fork server that forked it, if one did; the end of stdin is what it watches.)"""
    args = read_job()
    index = open_index(args["database_url"], migrate=False, pre_ping=False)  # for this job only
    warc_dir, ids = Path(args["warc_dir"]), list(args["snapshot_ids"])
    sel = selectors.DefaultSelector()
    sel.register(sys.stdin, selectors.EVENT_READ)
    writer = PageWriter(index)
    try:
        after = 0
        # A pass every _POLL while the crawl runs, the first one _POLL after the start (at the
        # start the crawl has stored nothing yet: a read to find nothing). EOF on stdin: the
        # crawl is over and its rows are committed.
        while not (sel.select(timeout=_POLL) and not os.read(sys.stdin.fileno(), 4096)):
            # The crawl's one recorder commits its rows in id order, so a pass can go on from
            # where the last one stopped ...
            after = index_while_crawling(index, warc_dir, ids, writer, after)
        # ... but the last pass looks at them all: whatever was left (a read that was busy, a
        # row committed out of order) is indexed before the capture ends.
        index_while_crawling(index, warc_dir, ids, writer, busy_tries=_LAST_PASS_TRIES)
        writer.close()
    except Exception as exc:
        # The capture itself is complete and settled, whatever ends this process: one line on
        # the caller's stderr (this process shares it), never a traceback.
        if isinstance(exc, OperationalError) and is_busy(exc):
            why = "the index stayed busy"
        else:
            why = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"
        sys.stderr.write(f"citevault: page indexing stopped, {why}; {_LEFT}\n")
        raise SystemExit(1) from None
    finally:
        sel.close()
        index.dispose()


if __name__ == "__main__":
    _child_main()
