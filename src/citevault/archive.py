"""The application's entry to the archive: open the index and the WARC store for some settings,
register sources, run captures, and read archived payloads back."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from citevault.crawler.job import CrawlOptions, Seed, crawl_in_subprocess
from citevault.crawler.progress import BROWSER_MODES
from citevault.storage.db import Index, open_index
from citevault.storage.errors import BadInput, NotFound, StorageError
from citevault.storage.index import closest_capture, latest_with_digest, surt_key
from citevault.storage.models import Capture, Snapshot, Source, utcnow
from citevault.storage.recovery import RecoveredFile, recover_open_files
from citevault.storage.reindex import reindex
from citevault.storage.snapshots import finish_snapshots
from citevault.storage.warcreader import ArchivedPayload, read_payload

from .config import Settings
from .urlnorm import normalize_url

if TYPE_CHECKING:
    from datetime import timedelta

    from .scheduler import Scheduler
    from .workqueue import WorkQueue

__all__ = ["MAX_NOTE", "MAX_URL", "Archive", "Queued", "Skipped", "Submitted"]

MAX_NOTE = 2000  # characters: a note is a line or a paragraph, shown on pages and in listings
# characters: the crawl fetches no longer URL (Scrapy's URLLENGTH_LIMIT, the old browsers' limit),
# and PostgreSQL's B-tree on sources.surt refuses keys over about 2.7 KB: refused at submission.
MAX_URL = 2083
# A conflict on the unique source URL means another writer committed that source: the next try
# finds it. More than one retry only guards against that source being removed again meanwhile.
_QUEUE_TRIES = 3


@dataclass(frozen=True)
class Queued:
    source_id: int
    snapshot_id: int
    url: str
    depth: int
    scope: str
    browser: str | None = None  # the source's own browser mode (None: CITEVAULT_BROWSER)

    @property
    def seed(self) -> Seed:
        return Seed(snapshot_id=self.snapshot_id, url=self.url, depth=self.depth, scope=self.scope,
                    browser=self.browser)


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
    interrupted: bool = False  # capture_now was stopped by Ctrl-C or SIGTERM


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
        if self.warc_dir.exists() and not self.warc_dir.is_dir():
            raise StorageError(f"the WARC directory {self.warc_dir} is a file, not a directory")

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
        browser: str | None = None,
        trigger: str = "cli",
        scheduler: Scheduler | None = None,
        notify: WorkQueue | None = None,
    ) -> Submitted:
        """Register a source and a queued snapshot per URL (skipping URLs archived more recently
        than `if_not_archived_within`), give the new sources their schedules, and tell `notify`
        (the work queue) about the new snapshots. Bad input raises before anything changes."""
        spec: str | None = None
        within: timedelta | None = None
        if every is not None or cron is not None or if_not_archived_within is not None:
            # Imported here: scheduler.py imports this module, and APScheduler costs a plain
            # `add` start-up CPU (benchmarks/startup.py).
            from .scheduler import parse_duration, schedule_spec

            spec = schedule_spec(every, cron)
            within = parse_duration(if_not_archived_within) if if_not_archived_within is not None else None
        _check_shape(depth, scope, browser)
        clean = [normalize_url(u) for u in urls]
        out = Submitted()
        if within is not None:
            from .scheduler import archived_within

            with self.index.session() as s:
                for url in clean:
                    if (cap := archived_within(s, url, within)) is not None:
                        out.skipped.append(Skipped(url, cap))
            done = {k.url for k in out.skipped}
            clean = [u for u in clean if u not in done]
        if not clean:
            return out
        out.queued = self.queue(clean, depth=depth, scope=scope, note=note, schedule=spec, trigger=trigger,
                                browser=browser)
        if spec is not None or self.settings.default_schedule:
            from .scheduler import open_schedules

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
        reporting progress. Ctrl-C or SIGTERM stops the capture, settles its snapshots (partial
        where the seed was kept) and returns with `interrupted` set."""
        from .workqueue import WorkQueue  # workqueue.py imports this module

        done = self.submit(urls, **options)
        if not done.queued:
            return done
        queue = WorkQueue(self.index, lease=self.settings.lease_timeout)
        try:
            with _sigterm_interrupts():
                queue.run_here(self, done.queued, on_progress)
        except KeyboardInterrupt:
            # The crawl child settles what it ran; settle too what we had claimed but not yet
            # started, so that nothing of ours is left `running` (a worker's snapshots are its own).
            done.interrupted = True
            ids = [q.snapshot_id for q in done.queued]
            with self.index.session() as s:
                mine = list(s.scalars(select(Snapshot.id).where(
                    Snapshot.id.in_(ids), Snapshot.claimed_by == queue.owner)))
            finish_snapshots(self.index, mine, "interrupted by the user", keep_captured=True)
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
        browser: str | None = None,
    ) -> list[Queued]:
        """A queued snapshot per URL, on the URL's source: one source per URL, created the first
        time (a URL given again gets a new snapshot on it, with the depth and scope asked for now,
        and the note and schedule where given). Validates everything first, so bad input changes
        nothing."""
        _check_shape(depth, scope, browser)
        if not urls:
            raise BadInput("no URL given")
        if note is not None and len(note) > MAX_NOTE:
            raise BadInput(f"the note is {len(note)} characters long; at most {MAX_NOTE} are kept")
        clean = list(dict.fromkeys(normalize_url(u) for u in urls))
        for url in clean:
            if len(url) > MAX_URL:
                raise BadInput(f"the URL is {len(url)} characters long; at most {MAX_URL} are "
                               f"archived: {url[:80]}...")
        for attempt in range(_QUEUE_TRIES):
            try:
                return self._queue(clean, depth, scope, note, schedule, trigger, browser)
            except IntegrityError:
                # Another writer added the source of one of these URLs between our look-up and our
                # insert (the unique index on sources.url said so): nothing of ours was kept, and
                # the next try finds that source and puts the snapshot on it.
                if attempt == _QUEUE_TRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def _queue(self, clean: list[str], depth: int, scope: str, note: str | None, schedule: str | None,
               trigger: str, browser: str | None) -> list[Queued]:
        out: list[Queued] = []
        with self.index.session() as s:
            for url in clean:
                src = s.scalars(select(Source).where(Source.surt == surt_key(url), Source.url == url)
                                ).first()  # surt: indexed
                if src is None:
                    src = Source(url=url, surt=surt_key(url), note=note, depth=depth, scope=scope,
                                 schedule=schedule, created_at=utcnow(), browser=browser)
                    s.add(src)
                else:
                    src.depth, src.scope = depth, scope
                    src.note = note if note is not None else src.note
                    src.schedule = schedule if schedule is not None else src.schedule
                    src.browser = browser if browser is not None else src.browser
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
        return Queued(src.id, snap.id, src.url, src.depth, src.scope, src.browser)

    def capture(
        self,
        queued: list[Queued],
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> int:
        """Run the capture of queued snapshots in a child process; returns its exit code.
        The time limit is per source: a batch of N sources may take N times as long."""
        self.index  # noqa: B018  (migrate before the child starts)
        self.recover_files()
        return crawl_in_subprocess(
            self.crawl_options(), [q.seed for q in queued], on_progress,
            time_limit=self.settings.capture_time_limit * max(1, len(queued)),
            should_stop=should_stop,
        )

    def recover_files(self) -> list[RecoveredFile]:
        """Close the WARC files a crashed capture left open (those of live writers stay), and
        index the complete records in them that the crash kept from the index: rows are committed
        in batches, so a writer killed between two commits leaves records that only `reindex`
        would find (tests/app/test_service_crash.py found 1 to 10 per kill). Runs before the
        lost snapshots are settled, which then count what these records add."""
        recovered = recover_open_files(self.warc_dir)
        kept = [r.name for r in recovered if not r.removed]
        if kept:
            reindex(self.index, self.warc_dir, files=kept)
            # Their pages' outlinks and metadata/search text too, which the dead crawl (or its
            # page indexer) had not stored yet: only for the snapshots these files hold.
            from citevault.crawler.pageindex import index_pages  # trafilatura: only when needed

            from .outlinks import rebuild_links

            with self.index.session() as s:
                snaps = sorted({sid for sid in s.scalars(
                    select(Capture.snapshot_id).where(Capture.warc.in_(kept)).distinct())
                    if sid is not None})
            if snaps:
                rebuild_links(self, snaps)
                index_pages(self.index, self.warc_dir, snapshot_ids=snaps)
        return recovered

    # -- reading ---------------------------------------------------------------------------------
    def resolve(self, cap: Capture) -> tuple[Capture, ArchivedPayload]:
        """The record of a capture, with a revisit resolved to the payload it refers to."""
        if cap.warc is None or cap.offset is None:
            raise NotFound(f"no archived copy of {cap.url} ({cap.error or 'no record'})")
        rec = read_payload(self.warc_dir, cap.warc, cap.offset)
        if rec.record_type == "revisit":
            with self.index.reading() as s:
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
        with self.index.reading() as s:
            cap = closest_capture(s, normalize_url(url), at)
        return self.resolve(cap)


def _check_shape(depth: int, scope: str, browser: str | None = None) -> None:
    if depth not in (0, 1):
        raise BadInput(f"depth must be 0 or 1, not {depth}")
    if scope not in ("cited", "all"):
        raise BadInput(f"scope must be 'cited' or 'all', not {scope!r}")
    if browser is not None and browser not in BROWSER_MODES:
        raise BadInput(f"browser must be one of {', '.join(BROWSER_MODES)}, not {browser!r}")


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
