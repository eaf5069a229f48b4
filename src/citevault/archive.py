"""The application's entry to the archive: open the index and the WARC store for some settings,
register sources, run captures, and read archived payloads back."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from citevault.crawler.job import CrawlOptions, Seed, crawl_in_subprocess
from citevault.storage.db import Index, open_index
from citevault.storage.errors import BadInput, NotFound, StorageError
from citevault.storage.index import closest_capture, latest_with_digest, surt_key
from citevault.storage.models import Capture, Snapshot, Source, utcnow
from citevault.storage.warcstore import ArchivedPayload, read_payload

from .config import Settings
from .urlnorm import normalize_url

if TYPE_CHECKING:
    from .scheduler import Scheduler
    from .workqueue import WorkQueue

__all__ = ["Archive", "Queued", "Skipped", "Submitted"]


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


@dataclass(frozen=True)
class Skipped:
    """A URL left alone because it was archived recently: `capture` is that archived copy."""

    url: str
    capture: Capture


@dataclass
class Submitted:
    """What `Archive.submit` did: the snapshots it queued, the URLs it skipped, and the schedule
    job ids each new source got (by source id)."""

    queued: list[Queued] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    jobs: dict[int, list[str]] = field(default_factory=dict)


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
        return CrawlOptions(self.settings)

    # -- the application's ways in: submit (queue for the workers) and capture_now (run here) ------
    def submit(
        self,
        urls: list[str],
        *,
        depth: int = 1,
        scope: str = "cited",
        note: str | None = None,
        every: str | None = None,
        cron: str | None = None,
        if_not_archived_within: str | None = None,
        trigger: str = "cli",
        scheduler: Scheduler | None = None,
        notify: WorkQueue | None = None,
    ) -> Submitted:
        """Register a source and a queued snapshot per URL (skipping URLs archived more recently
        than `if_not_archived_within`), give the new sources their schedules, and tell `notify`
        (the work queue) about the new snapshots. Bad input raises before anything changes."""
        # scheduler.py imports this module, so its helpers are imported here
        from .scheduler import archived_within, open_schedules, parse_duration, schedule_spec

        spec = schedule_spec(every, cron)
        within = parse_duration(if_not_archived_within) if if_not_archived_within is not None else None
        _check_shape(depth, scope)
        clean = [normalize_url(u) for u in urls]
        out = Submitted()
        if within is not None:
            with self.index.session() as s:
                for url in clean:
                    if (cap := archived_within(s, url, within)) is not None:
                        out.skipped.append(Skipped(url, cap))
            done = {k.url for k in out.skipped}
            clean = [u for u in clean if u not in done]
        if not clean:
            return out
        out.queued = self.queue(clean, depth=depth, scope=scope, note=note, schedule=spec, trigger=trigger)
        if spec is not None or self.settings.default_schedule:
            with open_schedules(self, scheduler) as sched:
                for q in out.queued:
                    out.jobs[q.source_id] = sched.apply(self.settings, q.source_id, spec)
        if notify is not None:
            notify.notify([q.snapshot_id for q in out.queued])
        return out

    def capture_now(
        self,
        urls: list[str],
        *,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        **options: Any,
    ) -> Submitted:
        """Submit the URLs (`options` as for `submit`), then capture them here, in the foreground,
        reporting progress; Ctrl-C or SIGTERM stops the capture and settles its snapshots."""
        from .workqueue import WorkQueue  # workqueue.py imports this module

        done = self.submit(urls, **options)
        if done.queued:
            with _sigterm_interrupts():
                WorkQueue(self.index, lease=self.settings.lease_timeout).run_here(
                    self, done.queued, on_progress
                )
        return done

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
        _check_shape(depth, scope)
        if not urls:
            raise BadInput("no URL given")
        clean = [normalize_url(u) for u in urls]
        out: list[Queued] = []
        with self.index.session() as s:
            for url in clean:
                src = Source(url=url, surt=surt_key(url), note=note, depth=depth, scope=scope,
                             schedule=schedule, created_at=utcnow())
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
        snap = Snapshot(source_id=src.id, trigger=trigger, state="queued", queued_at=utcnow())
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


def _check_shape(depth: int, scope: str) -> None:
    if depth not in (0, 1):
        raise BadInput(f"depth must be 0 or 1, not {depth}")
    if scope not in ("cited", "all"):
        raise BadInput(f"scope must be 'cited' or 'all', not {scope!r}")


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM to a foreground capture (the crawl runs in a child of its own session) ends it the
    way Ctrl-C does: the child is stopped and the snapshots are settled, not left running."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (embedded use): nothing to install
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
