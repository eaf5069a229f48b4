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

from .forkserver import ForkedChild, start_child
from .metadata import metadata_of

__all__ = ["PageIndexer", "index_pages", "index_while_crawling"]

_HTML = ("text/html", "application/xhtml+xml")
_JSON = ("application/json", "application/json+oembed", "text/json")
_MAX_PAYLOAD = 5_000_000  # bigger "pages" are data files: not parsed for metadata
_BATCH = 32
_POLL = 0.5  # seconds between looks for new captures while the crawl runs
_TRIM_AFTER = 256_000  # bytes of a payload after which freed memory is handed back (`_trim`)


def _pending(index: Index, snapshot_ids: list[int] | None, after: int, limit: int) -> list[Capture]:
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
        rows = list(s.scalars(stmt.order_by(Capture.id).limit(limit)))
        s.expunge_all()
        return rows


def index_pages(
    index: Index, warc_dir: Path, snapshot_ids: list[int] | None = None,
    on_page: Callable[[int], None] | None = None,
) -> int:
    """Extract and store the metadata of every archived HTML page and oEmbed document (of these
    snapshots, or all) that has none yet. Returns how many pages were added."""
    added, after = 0, 0
    while caps := _pending(index, snapshot_ids, after, _BATCH):
        after = caps[-1].id
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
        if found:
            with index.session() as s:
                added += store_pages(s, found)
            if on_page:
                on_page(added)
    return added


def index_while_crawling(index: Index, warc_dir: Path, snapshot_ids: list[int]) -> int:
    """One pass of `index_pages` beside a running crawl: a write lock held by the crawl past the
    busy timeout (SQLite: a crawl queueing a 100,000-link hub's requests) only delays the pass's
    pages to the next one, instead of ending the indexer and leaving every page to `reindex`."""
    try:
        return index_pages(index, warc_dir, snapshot_ids)
    except OperationalError as exc:
        if not is_busy(exc):
            raise
        return 0


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
    args = json.loads(sys.stdin.readline())
    index = open_index(args["database_url"], migrate=False)
    warc_dir, ids = Path(args["warc_dir"]), list(args["snapshot_ids"])
    sel = selectors.DefaultSelector()
    sel.register(sys.stdin, selectors.EVENT_READ)
    try:
        while True:
            index_while_crawling(index, warc_dir, ids)
            if sel.select(timeout=_POLL) and not os.read(sys.stdin.fileno(), 4096):
                break  # EOF: the crawl is over and its rows are committed
        index_pages(index, warc_dir, ids)
    finally:
        sel.close()
        index.dispose()


if __name__ == "__main__":
    _child_main()
