"""Running a capture job: one Scrapy crawl over one or more snapshots, in this process or in a
child process that can be stopped (time limit, shutdown) without touching the caller."""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from citevault.config import Settings
from citevault.storage.db import open_index
from citevault.storage.snapshots import finish_snapshots as settle
from citevault.storage.warcstore import WarcStore

from .progress import Progress, Seed
from .recorder import CaptureRecorder

__all__ = ["CrawlOptions", "Seed", "crawl", "crawl_in_subprocess", "finish_snapshots"]


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
            "ROBOTSTXT_OBEY": c.obey_robots,
            "CONCURRENT_REQUESTS": c.concurrency,
            "CONCURRENT_REQUESTS_PER_DOMAIN": c.concurrency_per_host,
            "DOWNLOAD_TIMEOUT": c.timeout,
            "DOWNLOAD_MAXSIZE": c.max_response_size,
            "DOWNLOAD_WARNSIZE": 0,
            "RETRY_TIMES": c.retries,
            # Redirects are followed by the spider, so that every hop is archived.
            "REDIRECT_ENABLED": False,
            "METAREFRESH_ENABLED": False,
            "TELNETCONSOLE_ENABLED": False,
            # Else Scrapy re-parses CaptureSpider.parse's source (ast, ~2 ms) whenever its weak
            # per-callback cache misses, to warn about `return value` in generators (benchmarks/).
            "WARN_ON_GENERATOR_RETURN_VALUE": False,
            "LOG_LEVEL": self.log_level,
            "LOG_ENABLED": self.log_level != "NONE",
            "DNS_RESOLVER": "citevault.crawler.guard.GuardedResolver",
            "CITEVAULT_ALLOW_PRIVATE_NETWORKS": c.allow_private_networks,
            "DOWNLOADER_MIDDLEWARES": {
                "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
                "citevault.crawler.robots.RobotsTxtMiddleware": 100,
                "citevault.crawler.guard.PrivateNetworkMiddleware": 760,
                "citevault.crawler.middlewares.RawExchangeMiddleware": 950,
            },
            "SPIDER_MIDDLEWARES": {"scrapy.spidermiddlewares.depth.DepthMiddleware": None},
            "EXTENSIONS": {"citevault.crawler.lifecycle.RecorderLifecycle": 100},
            "STATS_DUMP": False,
        }



def finish_snapshots(
    database_url: str, snapshot_ids: list[int], error: str | None = None, *, keep_captured: bool = False
) -> None:
    """Settle the snapshots of a crawl that ended or was stopped (storage.snapshots decides how),
    from a process that may hold no index of its own."""
    index = open_index(database_url, migrate=False)
    try:
        settle(index, snapshot_ids, error, keep_captured=keep_captured)
    finally:
        index.dispose()


def crawl(
    options: CrawlOptions, seeds: list[Seed], on_progress: Callable[[Progress], None] | None = None
) -> None:
    """Run one crawl in this process (starts the Twisted reactor: once per process)."""
    from scrapy.crawler import CrawlerProcess  # only in the crawl process: Scrapy is slow to import

    from .spider import CaptureSpider

    index = open_index(options.database_url)
    store = WarcStore(
        options.warc_dir, prefix=options.settings.warc_prefix, max_size=options.settings.warc_max_size,
        software="citevault (Scrapy, warcio)",
    )
    recorder = CaptureRecorder(index, store, batch_size=64, batch_age=0.25)
    # Pending requests wait on disk, not in memory, so a crawl's memory stays flat however many
    # URLs it queues (a `--scope all` hub, hundreds of seeds). The directory lives for this crawl
    # only: an interrupted crawl is queued again whole, never resumed from it.
    queue_dir = tempfile.TemporaryDirectory(prefix="citevault-queue-")
    try:
        settings = options.scrapy_settings()
        settings["JOBDIR"] = queue_dir.name
        process = CrawlerProcess(settings)
        crawler = process.create_crawler(CaptureSpider)
        process.crawl(crawler, seeds=seeds, recorder=recorder, on_progress=on_progress)
        process.start()
        reason = crawler.stats.get_value("finish_reason") if crawler.stats else None
    finally:
        recorder.commit()  # rows still pending when the crawl was stopped
        store.close()
        index.dispose()
        queue_dir.cleanup()
    # Stopped by a signal before the queue ran dry: what was captured stays, the rest was not
    # fetched, so the snapshot is partial at best, never done.
    stopped = None if reason == "finished" else "interrupted: the crawl stopped before it finished"
    finish_snapshots(options.database_url, [s.snapshot_id for s in seeds], stopped, keep_captured=True)


def _child_main() -> None:
    """Entry of the child process: options and seeds as JSON on stdin, progress as JSON lines
    on stdout (Scrapy's own log goes to stderr)."""
    job = json.loads(sys.stdin.read())
    out = sys.stdout

    def report(p: Progress) -> None:
        out.write(json.dumps(p.as_dict()) + "\n")
        out.flush()

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
    proc = subprocess.Popen(
        [sys.executable, "-m", "citevault.crawler.job"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, text=True, bufsize=1,
        # Its own session: a signal to our process group (Ctrl-C, a service manager) reaches us,
        # and we decide whether the crawl is failed or queued again, not the child on its own.
        start_new_session=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps({"options": options.as_json(), "seeds": [asdict(s) for s in seeds]}))
    proc.stdin.close()
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
            elif eof:
                time.sleep(0.05)
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
    sel.close()
    proc.stdout.close()
    code = proc.wait()
    if stop_reason is None and code != 0:
        finish_snapshots(options.database_url, ids, f"the capture process died (exit code {code})")
    return code


if __name__ == "__main__":
    _child_main()
