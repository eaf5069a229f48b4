"""Politeness towards the sites we archive: at most N fetches in flight per host and per IP
address, and a server's Retry-After honoured (within a bound): no request to that host (or IP)
starts until the delay has passed, while other hosts go on.

Scrapy 2.19's downloader does not enforce its per-slot concurrency under the asyncio reactor:
`_process_queue` starts each download as a task and counts a slot's transfers only once the
task runs, so one pass of its loop starts every queued request of the slot (12 of 12 in flight
at one host with CONCURRENT_REQUESTS_PER_DOMAIN=1, measured with tests/crawler/test_politeness.py).
`PoliteDownloader` counts a transfer as soon as it is started.

A Retry-After pauses the response's download slot (its host, or its IP when we resolve names)
with Scrapy's own per-slot timer (`Slot.latercall`, which blocks the slot's queue until it
fires), set from the `response_downloaded` signal: the downloader sends it before it frees the
transfer and starts the slot's next request, so nothing queued for that host slips through.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Coroutine
from time import monotonic
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, Spider, signals
from scrapy.core.downloader import Downloader, Slot
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.utils.asyncio import call_later
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import defer

from .netpolicy import as_ip

__all__ = ["PoliteDownloader", "PolitenessMiddleware", "retry_after_seconds"]

_RETRY_STATUSES = (429, 503)


class PoliteDownloader(Downloader):
    """Scrapy's downloader, with a slot's transfer counted when it is started, not when its task
    first runs, and a slot paused for as long as a 429/503's Retry-After asks (within
    `CITEVAULT_RETRY_AFTER_MAX`; see the module docstring)."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.max_wait = crawler.settings.getfloat("CITEVAULT_RETRY_AFTER_MAX", 30.0)
        # slot key -> monotonic time its pause ends; outlives a slot that Scrapy collects.
        self.paused_until: dict[str, float] = {}
        crawler.signals.connect(self._on_response, signal=signals.response_downloaded)

    def _on_response(self, response: Response, request: Request) -> None:
        if response.status not in _RETRY_STATUSES:
            return
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        if wait is not None and 0 < wait <= self.max_wait:
            self.pause(self.get_slot_key(request), wait)

    def pause(self, key: str, seconds: float) -> None:
        """Start no request of slot `key` for `seconds` (a longer pause already set stands)."""
        until = monotonic() + seconds
        if until <= self.paused_until.get(key, 0.0):
            return
        self.paused_until[key] = until
        if key in self.slots:
            self._hold(self.slots[key], seconds)

    def _hold(self, slot: Slot, seconds: float) -> None:
        if slot.latercall:
            slot.latercall.cancel()  # only ever a shorter download-delay timer, or our own
        slot.latercall = call_later(seconds, self._latercall, slot)

    def _get_slot(self, request: Request, spider: Spider | None = None) -> tuple[str, Slot]:
        new = self.get_slot_key(request) not in self.slots
        key, slot = super()._get_slot(request)
        left = self.paused_until.get(key, 0.0) - monotonic()
        if left <= 0:
            self.paused_until.pop(key, None)
        elif new:  # Scrapy collected the idle paused slot: the pause goes on in its successor
            self._hold(slot, left)
        return key, slot

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
    when we resolve names ourselves, so hosts sharing an address share its limit (and its
    Retry-After pause, which `PoliteDownloader` applies). A Retry-After longer than
    `CITEVAULT_RETRY_AFTER_MAX` is not waited for: the response is archived as it came, not
    retried."""

    def __init__(self, max_wait: float) -> None:
        self.max_wait = max_wait

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PolitenessMiddleware:
        return cls(crawler.settings.getfloat("CITEVAULT_RETRY_AFTER_MAX", 30.0))

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

    def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Response:
        if response.status in _RETRY_STATUSES:
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            if wait is not None and wait > self.max_wait:
                request.meta["dont_retry"] = True  # archived as it came: we will not wait that long
        # Within the bound RetryMiddleware retries it at once: the retry waits in its paused slot.
        return response
