"""The application's entry to the archive: open the index and the WARC store for some settings,
register sources, run captures, and read archived payloads back."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from citevault.crawler.job import CrawlOptions, Seed, crawl_in_subprocess
from citevault.storage.db import Index, open_index
from citevault.storage.errors import BadInput, NotFound, StorageError
from citevault.storage.index import closest_capture, latest_with_digest, surt_key
from citevault.storage.models import Capture, Snapshot, Source
from citevault.storage.warcstore import ArchivedPayload, read_payload

from .config import Settings
from .urls import normalize_url

__all__ = ["Archive", "Queued"]


@dataclass(frozen=True)
class Queued:
    source_id: int
    snapshot_id: int
    url: str
    depth: int
    scope: str

    @property
    def seed(self) -> Seed:
        return Seed(snapshot_id=self.snapshot_id, url=self.url, depth=self.depth, scope=self.scope)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Archive:
    """One archive: an index database and a WARC directory, as the settings name them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.warc_dir = settings.effective_warc_dir
        self._index: Index | None = None

    @property
    def index(self) -> Index:
        if self._index is None:
            self._check_home()
            self._index = open_index(self.settings.effective_database_url)
        return self._index

    def _check_home(self) -> None:
        home = self.settings.home
        try:
            home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the home directory {home}: {exc.strerror}") from exc
        if not os.access(home, os.W_OK | os.X_OK):
            raise StorageError(f"the home directory {home} is not writable")

    def close(self) -> None:
        if self._index is not None:
            self._index.dispose()
            self._index = None

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def crawl_options(self) -> CrawlOptions:
        s = self.settings
        return CrawlOptions(
            database_url=s.effective_database_url,
            warc_dir=str(self.warc_dir),
            warc_prefix=s.warc_prefix,
            warc_max_size=s.warc_max_size,
            user_agent=s.user_agent,
            allow_private_networks=s.allow_private_networks,
            obey_robots=s.obey_robots,
            concurrency=s.concurrency,
            concurrency_per_host=s.concurrency_per_host,
            timeout=s.timeout,
            max_response_size=s.max_response_size,
            retries=s.retries,
            tsa_urls=[u.strip() for u in s.tsa_urls.split(",") if u.strip()],
            tsa_timeout=s.tsa_timeout,
            tls_ca_file=str(s.tls_ca_file) if s.tls_ca_file else None,
        )

    # -- writing ---------------------------------------------------------------------------------
    def queue(
        self,
        urls: list[str],
        *,
        depth: int = 1,
        scope: str = "cited",
        note: str | None = None,
        schedule: str | None = None,
        trigger: str = "cli",
    ) -> list[Queued]:
        """Register a source and a queued snapshot per URL. Validates everything first, so bad
        input changes nothing."""
        if depth not in (0, 1):
            raise BadInput(f"depth must be 0 or 1, not {depth}")
        if scope not in ("cited", "all"):
            raise BadInput(f"scope must be 'cited' or 'all', not {scope!r}")
        if not urls:
            raise BadInput("no URL given")
        clean = [normalize_url(u) for u in urls]
        out: list[Queued] = []
        with self.index.session() as s:
            for url in clean:
                src = Source(url=url, surt=surt_key(url), note=note, depth=depth, scope=scope,
                             schedule=schedule, created_at=_now())
                s.add(src)
                s.flush()
                out.append(self._new_snapshot(s, src, trigger))
        return out

    def requeue(self, source_id: int, trigger: str = "schedule") -> Queued:
        """A new queued snapshot of an existing source (a recapture)."""
        with self.index.session() as s:
            src = s.get(Source, source_id)
            if src is None:
                raise NotFound(f"no source with id {source_id}")
            return self._new_snapshot(s, src, trigger)

    @staticmethod
    def _new_snapshot(s: Any, src: Source, trigger: str) -> Queued:
        snap = Snapshot(source_id=src.id, trigger=trigger, state="queued", queued_at=_now())
        s.add(snap)
        s.flush()
        return Queued(src.id, snap.id, src.url, src.depth, src.scope)

    def capture(
        self,
        queued: list[Queued],
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> int:
        """Run the capture of queued snapshots in a child process; returns its exit code.
        The time limit is per source: a batch of N sources may take N times as long."""
        self.index  # noqa: B018  (migrate before the child starts)
        return crawl_in_subprocess(
            self.crawl_options(), [q.seed for q in queued], on_progress,
            time_limit=self.settings.capture_time_limit * max(1, len(queued)),
            should_stop=should_stop,
        )

    # -- reading ---------------------------------------------------------------------------------
    def resolve(self, cap: Capture) -> tuple[Capture, ArchivedPayload]:
        """The record of a capture, with a revisit resolved to the payload it refers to."""
        if cap.warc is None or cap.offset is None:
            raise NotFound(f"no archived copy of {cap.url} ({cap.error or 'no record'})")
        rec = read_payload(self.warc_dir, cap.warc, cap.offset)
        if rec.record_type == "revisit":
            with self.index.session() as s:
                orig = s.get(Capture, cap.refers_to_id) if cap.refers_to_id else None
                if orig is None and cap.digest:  # e.g. rebuilt by reindex: find it by digest
                    target = rec.rec_headers.get_header("WARC-Refers-To-Target-URI") or cap.url
                    orig = latest_with_digest(s, target, cap.digest)
            if orig is None or orig.warc is None or orig.offset is None:
                raise NotFound(f"the record a revisit of {cap.url} refers to is missing")
            full = read_payload(self.warc_dir, orig.warc, orig.offset)
            rec.payload = full.payload
            if rec.http_headers is None:
                rec.http_headers = full.http_headers
        return cap, rec

    def get(self, url: str, at: str | None = None) -> tuple[Capture, ArchivedPayload]:
        with self.index.session() as s:
            cap = closest_capture(s, normalize_url(url), at)
        return self.resolve(cap)
