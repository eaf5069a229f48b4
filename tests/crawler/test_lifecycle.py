"""The recorder's lifecycle is a Scrapy extension registered by dotted path, built by from_crawler."""

from __future__ import annotations

from pathlib import Path

import pytest
import scrapy
from scrapy.exceptions import NotConfigured
from scrapy.utils.misc import load_object
from scrapy.utils.test import get_crawler

from citevault.config import Settings
from citevault.crawler.job import CrawlOptions
from citevault.crawler.lifecycle import RecorderLifecycle
from citevault.crawler.spider import CaptureSpider


def test_registered_by_dotted_path_from_the_settings_model(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, concurrency=7, user_agent="ua-test")
    options = CrawlOptions(settings)
    scrapy_settings = options.scrapy_settings()
    [(path, _)] = scrapy_settings["EXTENSIONS"].items()
    assert load_object(path) is RecorderLifecycle
    assert scrapy_settings["CONCURRENT_REQUESTS"] == 7 and scrapy_settings["USER_AGENT"] == "ua-test"
    assert CrawlOptions.from_json(options.as_json()) == options
    assert isinstance(RecorderLifecycle.from_crawler(get_crawler(CaptureSpider)), RecorderLifecycle)


def test_one_task_handles_what_a_callback_yields(tmp_path: Path) -> None:
    """Scrapy starts CONCURRENT_ITEMS asyncio tasks for every response's output (101 with its
    default); the spider yields only requests, scheduled at once, so one task is enough."""
    crawler = get_crawler(CaptureSpider, CrawlOptions(Settings(home=tmp_path)).scrapy_settings())
    assert crawler.settings.getint("CONCURRENT_ITEMS") == 1  # what scrapy.core.scraper reads


def test_switched_off_for_other_spiders() -> None:
    with pytest.raises(NotConfigured):
        RecorderLifecycle.from_crawler(get_crawler(scrapy.Spider))


@pytest.mark.parametrize(("level", "looked_up"), [("CRITICAL", False), ("INFO", True)])
def test_library_versions_are_looked_up_only_for_a_log_that_shows_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, level: str, looked_up: bool
) -> None:
    """Scrapy's start-up line lists ten libraries' versions, computed whatever the log level:
    every forked crawl child paid for it at the default (CRITICAL)."""
    from scrapy.utils import log

    calls: list[list[str]] = []
    monkeypatch.setattr(log, "get_versions", lambda software: calls.append(software) or [])
    crawler = get_crawler(CaptureSpider, CrawlOptions(Settings(home=tmp_path), level).scrapy_settings())
    log.log_scrapy_info(crawler.settings)
    assert bool(calls) is looked_up
