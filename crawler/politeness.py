"""Politeness towards the sites we archive: at most N fetches in flight per host and per IP
address, and a server's Retry-After honoured (within a bound) before a 429/503 is retried.

Scrapy 2.19's downloader does not enforce its per-slot concurrency under the asyncio reactor:
`_process_queue` starts each download as a task and counts a slot's transfers only once the
task runs, so one pass of its loop starts every queued request of the slot (12 of 12 in flight
at one host with CONCURRENT_REQUESTS_PER_DOMAIN=1, measured with tests/crawler/test_politeness.py).
`PoliteDownloader` counts a transfer as soon as it is started.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, Spider
from scrapy.core.downloader import Downloader, Slot
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import defer, task

from .netpolicy import as_ip

__all__ = ["PoliteDownloader", "PolitenessMiddleware", "retry_after_seconds"]

_RETRY_STATUSES = (429, 503)


class PoliteDownloader(Downloader):
    """Scrapy's downloader, with a slot's transfer counted when it is started, not when its task
    first runs (see the module docstring)."""

    def _wait_for_download(
        self, slot: Slot, request: Request, queue_dfd: defer.Deferred[Response]
    ) -> Coroutine[Any, Any, None]:
        # Called synchronously inside _process_queue's loop: reserve the transfer slot now.
        # `_download` adds the same request again (a set) and removes it when it is done.
        slot.transferring.add(request)
        return super()._wait_for_download(slot, request, queue_dfd)


def retry_after_seconds(value: str | bytes | None, now: float | None = None) -> float | None:
    """The delay a Retry-After header asks for (delta-seconds or an HTTP date), or None."""
    if value is None:
        return None
    text = (value.decode("latin-1") if isinstance(value, bytes) else value).strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class PolitenessMiddleware:
    """Downloader middleware (after the private-network guard): one download slot per IP address
    when we resolve names ourselves, so hosts sharing an address share its limit; and a wait of
    Retry-After seconds (at most `CITEVAULT_RETRY_AFTER_MAX`) before a 429/503 is retried. A
    longer Retry-After is not waited for: the response is archived as it came, not retried."""

    def __init__(self, max_wait: float, max_retries: int) -> None:
        self.max_wait = max_wait
        self.max_retries = max_retries

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PolitenessMiddleware:
        s = crawler.settings
        return cls(s.getfloat("CITEVAULT_RETRY_AFTER_MAX", 30.0), s.getint("RETRY_TIMES"))

    async def process_request(self, request: Request, spider: Spider | None = None) -> None:
        host = urlsplit(request.url).hostname or ""
        if request.meta.get("proxy") or "download_slot" in request.meta:
            return  # the proxy resolves names: the host name is the best key we have
        ip = as_ip(host)
        if ip is None:
            from twisted.internet import reactor

            try:
                # Cached by the resolver: the connection itself reuses this answer.
                ip = as_ip(await maybe_deferred_to_future(reactor.resolve(host)))  # type: ignore[arg-type]
            except Exception:
                return  # the download reports the DNS failure
        if ip is not None:
            request.meta["download_slot"] = str(ip)

    async def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Response:
        if response.status not in _RETRY_STATUSES or request.meta.get("dont_retry"):
            return response
        if request.meta.get("retry_times", 0) >= self.max_retries:
            return response
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        if wait is None:
            return response
        if wait > self.max_wait:
            request.meta["dont_retry"] = True  # archived as it came: we will not wait that long
            return response
        from twisted.internet import reactor

        await maybe_deferred_to_future(task.deferLater(reactor, wait, lambda: None))
        return response
