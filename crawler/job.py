"""Running a capture job: one Scrapy crawl over one or more snapshots, in this process or in a
child process that can be stopped (time limit, shutdown) without touching the caller."""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from citevault.config import Settings
from citevault.storage.db import open_index
from citevault.storage.manifest import ManifestBook
from citevault.storage.snapshots import finish_snapshots as settle

from . import forkserver
from .forkedprocess import PARENT_GONE, read_job
from .progress import Progress, Seed

__all__ = ["CrawlOptions", "Seed", "crawl", "crawl_in_subprocess", "finish_snapshots"]

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


@dataclass
class CrawlOptions:
    """Everything a crawl needs: the application's settings (the one place crawl settings are
    declared and documented), plus how loud Scrapy's own log is."""

    settings: Settings
    log_level: str = "CRITICAL"

    @property
    def database_url(self) -> str:
        return self.settings.effective_database_url

    @property
    def warc_dir(self) -> Path:
        return self.settings.effective_warc_dir

    def as_json(self) -> dict[str, Any]:
        """What the child process rebuilds these options from (`from_json`)."""
        return {"settings": self.settings.model_dump(mode="json"), "log_level": self.log_level}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CrawlOptions:
        return cls(Settings(**data["settings"]), data["log_level"])

    def scrapy_settings(self) -> dict[str, Any]:
        c = self.settings
        return {
            "BOT_NAME": "citevault",
            "USER_AGENT": c.user_agent,
            # Scrapy's default Accept ("text/html,application/xhtml+xml,application/xml;q=0.9,
            # */*;q=0.8") without the two XML types at 0.9: HTML first, anything else next. Every
            # request record repeats it (14 B a recapture, issue 15, target 3); a server that
            # sends XHTML or XML only when asked for it by name now sends what it gives */*.
            "DEFAULT_REQUEST_HEADERS": {"Accept": "text/html,*/*;q=0.8", "Accept-Language": "en"},
            "ROBOTSTXT_OBEY": c.obey_robots,
            "CONCURRENT_REQUESTS": c.concurrency,
            "CONCURRENT_REQUESTS_PER_DOMAIN": c.concurrency_per_host,
            # Enforces that limit (Scrapy's own downloader does not: see politeness.py).
            "DOWNLOADER": "citevault.crawler.politeness.PoliteDownloader",
            "CITEVAULT_RETRY_AFTER_MAX": c.retry_after_max,
            "CITEVAULT_MAX_LINKS_PER_PAGE": c.max_links_per_page,
            "DOWNLOAD_TIMEOUT": c.timeout,
            "DOWNLOAD_MAXSIZE": c.max_response_size,
            "DOWNLOAD_WARNSIZE": 0,
            "RETRY_TIMES": c.retries,
            # Redirects are followed by the spider, so that every hop is archived.
            "REDIRECT_ENABLED": False,
            "METAREFRESH_ENABLED": False,
            "TELNETCONSOLE_ENABLED": False,
            # Scrapy 2.19 starts an HTTP server that runs posted Python code in every crawl (and
            # imports aiohttp for it: a fifth of the crawl process's start-up CPU, benchmarks/).
            "REMOTE_CONTROL_ENABLED": False,
            # Else Scrapy re-parses CaptureSpider.parse's source (ast, ~2 ms) whenever its weak
            # per-callback cache misses, to warn about `return value` in generators (benchmarks/).
            "WARN_ON_GENERATOR_RETURN_VALUE": False,
            # What a callback yields goes through at most this many asyncio tasks at a time, and
            # Scrapy starts all of them for every response (101 tasks with the default 100). The
            # spider yields requests only, which the engine schedules at once: one is enough
            # (benchmarks/history/2026-12-07-and-before.md, p-cpu4: the crawl child's CPU 4.10 -> 3.69 s).
            "CONCURRENT_ITEMS": 1,
            # Pending requests: in memory up to CITEVAULT_QUEUE_MEMORY, on disk (JOBDIR) beyond,
            # without Scrapy's directory and file per host's queue (pendingqueue.py).
            "SCHEDULER_DISK_QUEUE": "citevault.crawler.pendingqueue.SpillingLifoQueue",
            "SCHEDULER_PRIORITY_QUEUE": "citevault.crawler.pendingqueue.SlotQueues",
            "CITEVAULT_QUEUE_MEMORY": 2000,
            "LOG_LEVEL": self.log_level,
            "LOG_ENABLED": self.log_level != "NONE",
            # Scrapy looks up ten libraries' versions (and the platform) for its start-up line
            # whatever the level: 4-5 ms of every forked crawl child's CPU, for a line only shown
            # at INFO and below.
            "LOG_VERSIONS": _log_versions(self.log_level),
            _resolver_setting(): "citevault.crawler.guard.GuardedResolver",
            "CITEVAULT_ALLOW_PRIVATE_NETWORKS": c.allow_private_networks,
            "DOWNLOADER_MIDDLEWARES": {
                "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
                "citevault.crawler.robots.RobotsTxtMiddleware": 100,
                "citevault.crawler.guard.PrivateNetworkMiddleware": 760,
                "citevault.crawler.politeness.PolitenessMiddleware": 770,
                "citevault.crawler.provenance.ProvenanceMiddleware": 940,
                "citevault.crawler.middlewares.RawExchangeMiddleware": 950,
            },
            "SPIDER_MIDDLEWARES": {"scrapy.spidermiddlewares.depth.DepthMiddleware": None},
            "EXTENSIONS": {"citevault.crawler.lifecycle.RecorderLifecycle": 100},
            # https through Scrapy's own handler, recording each origin's TLS facts (tlsfacts.py), for
            # the snapshot's TLS record and its provenance (provenance.ProvenanceCollector).
            "DOWNLOAD_HANDLERS": {"https": "citevault.crawler.tlsfacts.RecordingHTTPSHandler"},
            # Browser capture (browsercapture.py): the mode, and its limits.
            "CITEVAULT_BROWSER": c.browser,
            "CITEVAULT_CHROMIUM": c.chromium,
            "CITEVAULT_BROWSER_POOL": c.browser_pool,
            "CITEVAULT_BROWSER_BUDGET": c.browser_budget,
            "CITEVAULT_BROWSER_PDF": c.browser_pdf,
            "CITEVAULT_BROWSER_HOSTS": [h.strip() for h in c.browser_hosts.split(",") if h.strip()],
            # Scrapy imports every class named here, even one set to None, so the remote
            # control is left out of the base list, not switched off in EXTENSIONS.
            "EXTENSIONS_BASE": _extensions_base(),
            "STATS_DUMP": False,
        }


def _extensions_base() -> dict[str, int]:
    from scrapy.settings import default_settings

    base: dict[str, int] = default_settings.EXTENSIONS_BASE
    return {k: v for k, v in base.items() if not k.endswith(".RemoteControl")}


def _log_versions(level: str) -> list[str]:
    from scrapy.settings import default_settings

    return list(default_settings.LOG_VERSIONS) if level in ("DEBUG", "INFO") else []


def _quiet_scrapy(level: str) -> None:
    """Scrapy filters its log in its root handler and leaves its loggers at NOTSET, so each DEBUG
    line of every response (a few a page) was built, caller looked up, then dropped: its loggers
    now drop what the handler would, before building it."""
    logging.getLogger("scrapy").setLevel(logging.CRITICAL + 1 if level == "NONE" else level)


def _resolver_setting() -> str:
    """Scrapy 2.19 renamed DNS_RESOLVER and warns about the old name in every crawl (the warning
    reads Scrapy's source for its line, in each crawl child): the new name where it exists."""
    from scrapy.settings import default_settings

    return "TWISTED_DNS_RESOLVER" if hasattr(default_settings, "TWISTED_DNS_RESOLVER") else "DNS_RESOLVER"


def finish_snapshots(
    database_url: str, snapshot_ids: list[int], error: str | None = None, *, keep_captured: bool = False
) -> None:
    """Settle the snapshots of a crawl that ended or was stopped (storage.snapshots decides how),
    from a process that may hold no index of its own."""
    index = open_index(database_url, migrate=False, pre_ping=False)  # new, used once
    try:
        settle(index, snapshot_ids, error, keep_captured=keep_captured)
    finally:
        index.dispose()


def crawl(
    options: CrawlOptions, seeds: list[Seed], on_progress: Callable[[Progress], None] | None = None
) -> None:
    """Run one crawl in this process (starts the Twisted reactor: once per process)."""
    from scrapy.crawler import CrawlerProcess  # only in the crawl process: Scrapy is slow to import

    from citevault.storage.warcstore import WarcStore

    from .provenance import ProvenanceCollector
    from .recorder import CaptureRecorder
    from .seal import seal_crawl
    from .spider import CaptureSpider

    # The caller opened (and migrated) the index before it started this crawl (Archive.capture).
    # An engine for this crawl alone, its connections new and busy: no ping at each checkout.
    index = open_index(options.database_url, migrate=False, pre_ping=False)
    store = WarcStore(
        options.warc_dir, prefix=options.settings.warc_prefix, max_size=options.settings.warc_max_size,
        software="citevault (Scrapy, warcio)",
    )
    recorder = CaptureRecorder(index, store, batch_size=64, batch_age=0.25)
    book = ManifestBook()
    store.listeners.append(book)
    tls_ca = options.settings.tls_ca_file
    collector = ProvenanceCollector(str(tls_ca) if tls_ca else None)
    started = datetime.now(UTC)
    # Pending requests beyond the first few thousand wait on disk, not in memory, so a crawl's
    # memory stays flat however many URLs it queues (a `--scope all` hub, hundreds of seeds).
    # The directory lives for this crawl only: an interrupted crawl is queued again whole, never
    # resumed from it.
    queue_dir = tempfile.TemporaryDirectory(prefix="citevault-queue-")
    from .pageindex import PageIndexer  # trafilatura and lxml: only when a crawl runs

    pages = PageIndexer(options.database_url, str(options.warc_dir), [s.snapshot_id for s in seeds])
    if options.settings.index_pages:
        pages.start()
    reason, errors = None, 0
    try:
        try:
            settings = options.scrapy_settings()
            settings["JOBDIR"] = queue_dir.name
            process = CrawlerProcess(settings)
            _quiet_scrapy(options.log_level)
            crawler = process.create_crawler(CaptureSpider)
            process.crawl(crawler, seeds=seeds, recorder=recorder, on_progress=on_progress,
                          provenance=collector)
            process.start()
            reason = crawler.stats.get_value("finish_reason") if crawler.stats else None
            # An exception in a callback loses that page's links without a failure row: never done.
            errors = crawler.stats.get_value("spider_exceptions/count", 0) if crawler.stats else 0
        finally:
            recorder.commit()  # rows still pending when the crawl was stopped
            seal_crawl(options.settings, seeds, index, store, recorder.snapshot_key, book, collector,
                       started)
            book.close()
            store.close()
            queue_dir.cleanup()
            if reason is None:
                pages.finish(5.0)  # the crawl failed: what is left is indexed by `reindex`
        # Stopped by a signal before the queue ran dry: what was captured stays, the rest was not
        # fetched, so the snapshot is partial at best, never done.
        stopped = None if reason == "finished" else "interrupted: the crawl stopped before it finished"
        if stopped is None and errors:
            stopped = f"internal error: {errors} fetched page(s) could not be processed (see the log)"
        # Through the crawl's own engine: a second one here was a second database session per
        # job (on PostgreSQL a server process started for one transaction).
        settle(index, [s.snapshot_id for s in seeds], stopped, keep_captured=True)
    finally:
        index.dispose()
    # Settled first, so that readers see the snapshot done while the last pages are indexed;
    # the indexer's last pass sees every committed row.
    pages.finish()


def _die_with_parent(parent: int) -> None:
    """Stop this crawl when the process that started it dies, however it dies: the kernel's
    parent-death signal where there is one (Linux), and a watchdog on stdin, which the parent
    holds open until it is done with us, everywhere. SIGTERM twice: Scrapy's second one stops
    at once, still closing the WARC file; the snapshot is settled as interrupted, never done."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(PARENT_GONE)

    def watch() -> None:
        # os.read, not sys.stdin: a daemon thread blocked inside a buffered reader's lock makes
        # the interpreter abort at exit.
        with contextlib.suppress(OSError):
            while os.read(0, 1024):
                pass
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _child_main(parent: int | None = None) -> None:
    """Entry of the child process: options and seeds as one JSON line on stdin (kept open while
    the parent lives), progress as JSON lines on stdout (Scrapy's own log goes to stderr).
    `parent` is the fork server's pid when forked by it (forkserver.py): then the caller's
    environment and working directory come with the job, not with the process."""
    job = read_job()
    if parent is not None:
        os.environ.clear()
        os.environ.update(job["env"])
        os.chdir(job["cwd"])
    _die_with_parent(int(job["parent"]) if parent is None else parent)
    out = sys.stdout

    def report(p: Progress) -> None:
        try:
            out.write(json.dumps(p.as_dict()) + "\n")
            out.flush()
        except (BrokenPipeError, ValueError):
            # The parent is gone; the watchdog stops the crawl. A progress line must never
            # raise in a spider callback (that would lose the page's links).
            pass

    crawl(CrawlOptions.from_json(job["options"]), [Seed(**s) for s in job["seeds"]], report)


def crawl_in_subprocess(
    options: CrawlOptions,
    seeds: list[Seed],
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    *,
    time_limit: float | None = None,
    grace: float = 10.0,
    should_stop: Callable[[], bool] | None = None,
) -> int:
    """Run the crawl in a child process; returns its exit code. A child past `time_limit` (or
    told to stop) is settled as failed, then gets SIGTERM, and SIGKILL after `grace`."""
    ids = [s.snapshot_id for s in seeds]
    # Forked from this process's fork server where there is one (no interpreter start, nothing
    # imported again: forkserver.py), else a new interpreter running this module.
    proc = forkserver.start_child("citevault.crawler.job")
    assert proc.stdin is not None and proc.stdout is not None
    job = {"options": options.as_json(), "seeds": [asdict(s) for s in seeds], "parent": os.getpid(),
           "env": dict(os.environ), "cwd": os.getcwd()}
    # stdin stays open while we live: its end tells the child we are gone (see _die_with_parent).
    proc.stdin.write(json.dumps(job) + "\n")
    proc.stdin.flush()
    os.set_blocking(proc.stdout.fileno(), False)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    started = time.monotonic()
    stop_reason: str | None = None
    terminated_at: float | None = None
    buf = ""
    eof = False
    second_signal = False
    try:
        while not eof or proc.poll() is None:
            if not eof and sel.select(timeout=0.1):
                chunk = proc.stdout.read()
                if chunk == "":
                    eof = True
                elif chunk:
                    buf += chunk
                    *lines, buf = buf.split("\n")
                    for line in lines:
                        if on_progress and line.strip():
                            with contextlib.suppress(ValueError):
                                on_progress(json.loads(line))
            elif eof:  # exiting: its status comes at once (not after a fixed nap, per job)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(0.05)
            if stop_reason is None:
                if time_limit is not None and time.monotonic() - started > time_limit:
                    stop_reason = f"stopped: capture exceeded its time limit of {time_limit:g}s"
                elif should_stop is not None and should_stop():
                    stop_reason = "interrupted: the service shut down before the capture finished"
                if stop_reason is not None:
                    # Settle first, so the child's own graceful finish cannot call it done.
                    finish_snapshots(options.database_url, ids, stop_reason)
                    terminated_at = time.monotonic()
                    proc.terminate()
            elif terminated_at is not None and proc.poll() is None:
                waited = time.monotonic() - terminated_at
                if waited > grace:
                    proc.kill()
                    terminated_at = None
                elif waited > 1 and not second_signal:
                    # Scrapy's first SIGTERM waits for downloads in flight; a second one stops
                    # at once, still closing the WARC file on the way out.
                    proc.terminate()
                    second_signal = True
    except KeyboardInterrupt:
        # The child has its own session, so Ctrl-C reached only us: stop it (twice: at once),
        # let it commit what it captured, then settle what it left unsettled, and pass it on.
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(1)
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
        finish_snapshots(options.database_url, ids, "interrupted by the user", keep_captured=True)
        raise
    except BaseException:
        proc.stdin.close()  # we give up on it: its watchdog stops the crawl
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise
    sel.close()
    proc.stdout.close()
    code = proc.wait()
    with contextlib.suppress(OSError):
        proc.stdin.close()
    if stop_reason is None and code != 0:
        finish_snapshots(options.database_url, ids, f"the capture process died (exit code {code})")
    return code


if __name__ == "__main__":
    _child_main()
