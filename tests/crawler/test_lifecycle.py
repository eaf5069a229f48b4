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


def test_the_guarded_resolver_is_named_by_the_setting_scrapy_reads(tmp_path: Path) -> None:
    """Scrapy 2.19 renamed DNS_RESOLVER to TWISTED_DNS_RESOLVER and warns (a deprecation, its
    source line read for it) in every crawl that sets the old name above its default."""
    from scrapy.settings import SETTINGS_PRIORITIES, default_settings
    from scrapy.settings import Settings as ScrapySettings

    s = ScrapySettings(CrawlOptions(Settings(home=tmp_path)).scrapy_settings())
    renamed = hasattr(default_settings, "TWISTED_DNS_RESOLVER")
    name = "TWISTED_DNS_RESOLVER" if renamed else "DNS_RESOLVER"
    assert s[name] == "citevault.crawler.guard.GuardedResolver"
    if renamed:  # the condition of Scrapy's warning (CrawlerProcessBase._setup_reactor)
        assert (s.getpriority("DNS_RESOLVER") or 0) <= SETTINGS_PRIORITIES["default"]


@pytest.mark.parametrize(("level", "debug_built"), [("CRITICAL", False), ("NONE", False), ("DEBUG", True)])
def test_scrapy_debug_lines_are_not_built_for_a_log_that_drops_them(level: str, debug_built: bool) -> None:
    """Scrapy's root handler drops records below LOG_LEVEL, but its loggers stay at NOTSET, so
    every per-response DEBUG line was built (record, caller lookup) before being dropped."""
    import logging

    from citevault.crawler import job

    scrapy_logger = logging.getLogger("scrapy")
    old = scrapy_logger.level
    try:
        job._quiet_scrapy(level)
        assert logging.getLogger("scrapy.core.engine").isEnabledFor(logging.DEBUG) is debug_built
    finally:
        scrapy_logger.setLevel(old)
