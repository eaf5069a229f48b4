"""The capture spider: seed -> cited links (depth 1) -> page requisites, every exchange recorded."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any
from urllib.parse import urljoin

import scrapy
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response, TextResponse
from twisted.python.failure import Failure

from citevault.storage.models import HTML_TYPES

from .links import css_links, extract_page_links, oembed_url
from .middlewares import RAW_META_KEY
from .progress import Progress, Seed
from .recorder import CaptureRecorder, Exchange

__all__ = ["CaptureSpider", "describe_failure"]

_MAX_HOPS = 10


# Failure classes by name: Scrapy >= 2.14 wraps Twisted's errors in its own (scrapy.exceptions).
_REASONS = {
    "DNSLookupError": "DNS lookup failed",
    "CannotResolveHostError": "DNS lookup failed",
    "ConnectionRefusedError": "connection refused",
    "DownloadConnectionRefusedError": "connection refused",
    "ConnectionLost": "connection lost before the response was complete",
    "ResponseDataLossError": "connection lost before the response was complete",
    "ResponseNeverReceived": "connection closed before any response",
}


def describe_failure(failure: Failure, timeout: float | None = None) -> str:
    """A one-line reason for a fetch that got no response."""
    exc = failure.value
    name = type(exc).__name__
    text = " ".join(str(exc).split()) or name
    if isinstance(exc, IgnoreRequest):
        return text  # our own refusals (private networks) and robots.txt say why already
    if name in _REASONS:
        return _REASONS[name] if name not in ("DNSLookupError", "CannotResolveHostError") \
            else f"DNS lookup failed: {text}"
    if "Timeout" in name or "TimedOut" in name:
        return f"timed out{f' after {timeout:g}s' if timeout else ''}"
    if "max size" in text or "maxsize" in text.lower():
        return f"response too large: {text}"
    return f"{name}: {text}"[:500]


class CaptureSpider(scrapy.Spider):
    """Fetches each seed's page, its cited links and the requisites of every captured page."""

    name = "citevault"

    def __init__(
        self,
        seeds: list[Seed],
        recorder: CaptureRecorder,
        on_progress: Callable[[Progress], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.seeds = seeds
        self.recorder = recorder
        self.on_progress = on_progress
        self.progress = Progress()
        self._seen: set[tuple[int, str]] = set()
        self._last_report = 0.0

    async def start(self) -> AsyncIterator[scrapy.Request]:
        # The recorder's snapshots are opened, and its rows committed, by crawler.lifecycle.
        for seed in self.seeds:
            req = self._request(seed, seed.url, role="seed", level=0, parent=None)
            if req is not None:
                yield req

    # -- requests --------------------------------------------------------------------------------
    def _request(
        self, seed: Seed, url: str, *, role: str, level: int, parent: int | None, hops: int = 0,
        priority: int = 0,
    ) -> scrapy.Request | None:
        key = (seed.snapshot_id, url)
        if key in self._seen:
            return None
        self._seen.add(key)
        self.progress.queued += 1
        return scrapy.Request(
            url,
            callback=self.parse,
            errback=self.failed,
            dont_filter=True,  # dedup is per snapshot, above: two sources may share a stylesheet
            priority=priority,
            meta={
                "handle_httpstatus_all": True,
                "cv_seed": seed,
                "cv_role": role,
                "cv_level": level,
                "cv_parent": parent,
                "cv_hops": hops,
            },
        )

    def _report(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.on_progress and (force or now - self._last_report > 0.1):
            self._last_report = now
            self.on_progress(self.progress)

    # -- callbacks -------------------------------------------------------------------------------
    def parse(self, response: Response) -> Iterable[scrapy.Request]:
        meta = response.meta
        seed: Seed = meta["cv_seed"]
        role: str = meta["cv_role"]
        level: int = meta["cv_level"]
        exchange: Exchange = meta.pop(RAW_META_KEY)
        self.progress.queued -= 1

        location = response.headers.get("Location")
        if 300 <= response.status < 400 and location and meta["cv_hops"] < _MAX_HOPS:
            target = urljoin(response.url, location.decode("latin-1").strip())
            rec = self.recorder.record(
                seed.snapshot_id, exchange, role="redirect", parent_id=meta["cv_parent"],
                redirect_to=target,
            )
            self._count(rec.length)
            nxt = self._request(
                seed, target, role=role, level=level, parent=rec.id, hops=meta["cv_hops"] + 1
            )
            if nxt is not None:
                yield nxt
            return

        rec = self.recorder.record(seed.snapshot_id, exchange, role=role, parent_id=meta["cv_parent"])
        self._count(rec.length)
        mime = exchange.mime() or ""
        if not 200 <= response.status < 300 or not isinstance(response, TextResponse):
            return
        if mime == "text/css" or (role == "requisite" and response.url.endswith(".css")):
            for url in css_links(response.text, response.url):
                r = self._request(seed, url, role="requisite", level=level, parent=rec.id)
                if r is not None:
                    yield r
            return
        if mime not in HTML_TYPES or role not in ("seed", "cited"):
            return

        page = extract_page_links(response.body, response.url, guess_favicon=role == "seed")
        links = [(u, t, "cited") for u, t in page.cited]
        links += [(u, t, "navigation") for u, t in page.navigation]
        links += [(u, "", "embed") for u in page.embeds]
        self.recorder.record_links(rec.id, links)

        for url in page.requisites:
            r = self._request(seed, url, role="requisite", level=level, parent=rec.id, priority=1)
            if r is not None:
                yield r
        if level >= seed.depth:
            return
        follow = [u for u, _ in page.cited]
        if seed.scope == "all":
            follow += [u for u, _ in page.navigation] + page.embeds
        for url in follow:
            for target in (url, oembed_url(url) or ""):
                if target:
                    r = self._request(seed, target, role="cited", level=level + 1, parent=rec.id)
                    if r is not None:
                        yield r

    def failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        meta = request.meta
        seed: Seed = meta["cv_seed"]
        self.progress.queued -= 1
        self.progress.failed += 1
        self.progress.last_url = request.url
        reason = describe_failure(failure, self.settings.getfloat("DOWNLOAD_TIMEOUT"))
        self.recorder.record_failure(
            seed.snapshot_id, request.url, reason, role=meta["cv_role"], parent_id=meta["cv_parent"]
        )
        self._report()

    def _count(self, nbytes: int | None) -> None:
        self.progress.done += 1
        self.progress.bytes += nbytes or 0
        self._report()

    def closed(self, reason: str) -> None:
        self._report(force=True)
