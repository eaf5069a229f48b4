"""The recorder's lifecycle in a crawl, as a Scrapy extension: open each seed's snapshot when the
spider opens, commit pending rows on a timer while it runs, flush the last ones when it closes."""

from __future__ import annotations

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from twisted.internet import task

from .spider import CaptureSpider

__all__ = ["RecorderLifecycle"]


class RecorderLifecycle:
    """Drives the CaptureRecorder of a CaptureSpider (registered in EXTENSIONS by CrawlOptions)."""

    def __init__(self, crawler: Crawler) -> None:
        if not issubclass(crawler.spidercls, CaptureSpider):
            raise NotConfigured("records only the captures of a CaptureSpider")
        self._committer: task.LoopingCall | None = None
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RecorderLifecycle:
        return cls(crawler)

    def spider_opened(self, spider: Spider) -> None:
        assert isinstance(spider, CaptureSpider)
        recorder = spider.recorder
        # Rows are committed in batches; this bounds how long a row waits when fetches are slow.
        self._committer = task.LoopingCall(recorder.commit_if_due)
        self._committer.start(recorder.batch_age, now=False)
        for seed in spider.seeds:
            recorder.start_snapshot(seed.snapshot_id)

    def spider_closed(self, spider: Spider) -> None:
        assert isinstance(spider, CaptureSpider)
        if self._committer is not None and self._committer.running:
            self._committer.stop()
        spider.recorder.commit()
