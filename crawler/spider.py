"""The capture spider: seed -> cited links (depth 1) -> page requisites, every exchange recorded."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, TypeGuard
from urllib.parse import urljoin, urlsplit

import scrapy
from lxml import etree
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import defer, threads
from twisted.python.failure import Failure

from citevault.storage.models import HTML_TYPES

from .browsercapture import BrowserCapture, PageTask
from .links import PageLinks, css_links, extract_page_links, oembed_url, page_tree
from .linkstream import STREAM_ABOVE, cap_links, extract_streamed
from .metadata import looks_like_article, main_links
from .middlewares import RAW_META_KEY
from .progress import Progress, Seed
from .recorder import CaptureRecorder, Exchange, Recorded
from .tlsfacts import TLSFacts

__all__ = ["CaptureSpider", "describe_failure", "reads_links"]

_MAX_HOPS = 10
# Characters of an over-long URL kept in its failure row: the SURT index (a PostgreSQL b-tree)
# takes keys up to about 2,700 bytes.
_KEPT_URL = 2048


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


def describe_failure(failure: Failure, timeout: float | None = None, max_size: int | None = None) -> str:
    """A one-line reason for a fetch that got no response."""
    exc = failure.value
    name = type(exc).__name__
    text = " ".join(str(exc).split()) or name
    if name in ("DownloadCancelledError", "CancelledError") and text == name and max_size:
        # Scrapy cancels a body without Content-Length once it passes the limit, saying nothing.
        return (f"response too large: more than {max_size} bytes arrived (no Content-Length "
                "announced the size); limit CITEVAULT_MAX_RESPONSE_SIZE")
    if isinstance(exc, IgnoreRequest):
        return text  # our own refusals (private networks) and robots.txt say why already
    if name in ("DNSLookupError", "CannotResolveHostError"):
        # Twisted's text already starts with "DNS lookup failed" (Scrapy's wrapper repeats it).
        detail = re.sub(r"^(?:DNS lookup failed:?\s*)+", "", text).rstrip(".")
        return f"DNS lookup failed: {detail}" if detail else "DNS lookup failed"
    if name in _REASONS:
        return _REASONS[name]
    if "Timeout" in name or "TimedOut" in name:
        return f"timed out{f' after {timeout:g}s' if timeout else ''}"
    if "max size" in text or "maxsize" in text.lower():
        return f"response too large: {text}"
    inner = _inner_error(exc)
    if inner is not None:
        return inner
    return f"{name}: {text}"[:500]


def _inner_error(exc: BaseException | None) -> str | None:
    """The reason inside Twisted's ResponseFailed (which Scrapy wraps as DownloadFailedError,
    its text a list of Failure reprs): what the server did wrong, in words."""
    holder = exc if exc is None or hasattr(exc, "reasons") else exc.__cause__
    for reason in getattr(holder, "reasons", None) or []:
        err = getattr(reason, "value", reason)
        kind = type(err).__name__
        if kind == "ParseError":
            detail = err.args[0] if err.args else "unreadable"
            return f"invalid HTTP response from the server: {detail}"[:500]
        if kind in ("ConnectionDone", "ConnectionLost", "_DataLoss"):
            return "connection closed before the response was complete"
    return None


def reads_links(response: Response, role: str, mime: str) -> TypeGuard[TextResponse]:
    """Whether a fetched page's links are read (recorded, and followed within the seed's depth):
    an HTML page that is a seed or cited, answered 2xx as text. The one condition for both
    `CaptureSpider.parse`, which parses such a page into a tree (up to `STREAM_ABOVE` bytes; above
    it the links come from the streaming pass), and `_parse_http`, which reads them: a page parsed
    for nothing, or parsed twice, if they differed."""
    return (mime in HTML_TYPES and role in ("seed", "cited") and 200 <= response.status < 300
            and isinstance(response, TextResponse))


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
        self.tls_facts = TLSFacts()  # filled by tlsfacts.RecordingHTTPSHandler
        self._origins: dict[int, set[str]] = {}
        self.browser: BrowserCapture | None = None
        self.max_url_length = 2083
        self.max_links = 10_000

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> CaptureSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.max_url_length = crawler.settings.getint("URLLENGTH_LIMIT", 2083)
        spider.max_links = crawler.settings.getint("CITEVAULT_MAX_LINKS_PER_PAGE", 10_000)
        return spider

    async def start(self) -> AsyncIterator[scrapy.Request]:
        # The recorder's snapshots are opened, and its rows committed, by crawler.lifecycle.
        self.browser = BrowserCapture(self, self.settings)
        for seed in self.seeds:
            req = self._request(seed, seed.url, role="seed", level=0, parent=None)
            if req is not None:
                yield req
            # A tweet or a video given as the seed gets its oEmbed text too, as when cited.
            if (oembed := oembed_url(seed.url)) is not None:
                req = self._request(seed, oembed, role="requisite", level=0, parent=None)
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
        if len(url) > self.max_url_length:
            # Scrapy's URL-length middleware would drop it silently: say so in the index.
            self.recorder.record_failure(
                seed.snapshot_id, url[:_KEPT_URL], f"not fetched: the URL is {len(url)} characters "
                f"long, over the limit of {self.max_url_length} (kept here cut to {_KEPT_URL})",
                role=role, parent_id=parent,
            )
            self.progress.failed += 1
            return None
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

    def claim(self, snapshot_id: int, url: str) -> bool:
        """Mark a URL fetched for a snapshot by other means (the browser); False if it was already."""
        key = (snapshot_id, url)
        if key in self._seen:
            return False
        self._seen.add(key)
        return True

    def note_origin(self, snapshot_id: int, url: str) -> None:
        """Remember that the snapshot contacted this https origin (its TLS facts are kept)."""
        parts = urlsplit(url)
        if parts.scheme == "https" and parts.hostname:
            port = parts.port or 443
            origin = f"https://{parts.hostname}" + ("" if port == 443 else f":{port}")
            self._origins.setdefault(snapshot_id, set()).add(origin)

    def failure_reason(self, failure: Failure) -> str:
        return describe_failure(failure, self.settings.getfloat("DOWNLOAD_TIMEOUT"))

    # -- callbacks -------------------------------------------------------------------------------
    def parse(self, response: Response) -> Iterable[scrapy.Request] | AsyncIterator[scrapy.Request]:
        meta = response.meta
        exchange: Exchange | None = meta.get(RAW_META_KEY)
        mime = (exchange.mime() if exchange is not None else None) or ""
        # A page whose links are read is parsed once, here: the browser choice reads the same tree.
        tree = None
        if reads_links(response, meta["cv_role"], mime) and len(response.body) <= STREAM_ABOVE:
            tree = page_tree(response.body, response.url, response.encoding)
        if self.browser is not None and exchange is not None:
            seed: Seed = meta["cv_seed"]
            why = self.browser.wants(response, meta["cv_role"], mime, seed.browser, tree=tree)
            if why is not None:
                return self._browse(response)
        return self._parse_http(response, tree)

    async def _browse(self, response: Response) -> AsyncIterator[scrapy.Request]:
        """A page that needs the browser: archived as sent, then rendered (browsercapture.py)."""
        assert self.browser is not None
        meta = response.meta
        seed: Seed = meta["cv_seed"]
        exchange: Exchange = meta.pop(RAW_META_KEY)
        self.progress.queued -= 1
        rec = self.recorder.record(
            seed.snapshot_id, exchange, role=meta["cv_role"], parent_id=meta["cv_parent"], via="browser"
        )
        self.note_origin(seed.snapshot_id, response.url)
        self._count(rec.length)
        task = PageTask(seed.snapshot_id, response.url, rec, response, exchange)
        async for req in self.browser.capture(task, meta["cv_level"], seed):
            yield req

    async def _parse_http(
        self, response: Response, tree: etree._Element | None = None
    ) -> AsyncIterator[scrapy.Request]:
        meta = response.meta
        seed: Seed = meta["cv_seed"]
        role: str = meta["cv_role"]
        level: int = meta["cv_level"]
        exchange: Exchange = meta.pop(RAW_META_KEY)
        self.progress.queued -= 1

        location = response.headers.get("Location")
        if 300 <= response.status < 400 and location:
            target = urljoin(response.url, location.decode("latin-1").strip())
            rec = self.recorder.record(
                seed.snapshot_id, exchange, role="redirect", parent_id=meta["cv_parent"],
                redirect_to=target,
            )
            self.note_origin(seed.snapshot_id, response.url)
            self._count(rec.length)
            chain = [*meta.get("cv_chain", ()), response.url]
            why = None
            if meta["cv_hops"] >= _MAX_HOPS:
                why = f"not fetched: redirect chain cut after {_MAX_HOPS} hops"
            elif target in chain:
                why = f"not fetched: redirect loop ({len(chain)} hops lead back to this URL)"
            if why is not None:
                self.recorder.record_failure(seed.snapshot_id, target[:_KEPT_URL], why, role=role,
                                             parent_id=rec.id)
                self.progress.failed += 1
                return
            nxt = self._request(
                seed, target, role=role, level=level, parent=rec.id, hops=meta["cv_hops"] + 1
            )
            if nxt is not None:
                nxt.meta["cv_chain"] = chain
                yield nxt
            return

        rec = self.recorder.record(seed.snapshot_id, exchange, role=role, parent_id=meta["cv_parent"])
        self.note_origin(seed.snapshot_id, response.url)
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
        if not reads_links(response, role, mime):
            return
        page = None
        if len(response.body) > STREAM_ABOVE:
            # Seconds of parsing: not while holding the index's write lock (other writers time
            # out), and not in the reactor's thread (every download in flight would stall).
            self.recorder.commit()
            page = await maybe_deferred_to_future(threads.deferToThread(
                extract_streamed, response.body, response.url, max_links=self.max_links,
                guess_favicon=role == "seed", encoding=response.encoding,
            ))
        for r in self.follow_page(seed, rec, level, response.body, response.url,
                                  encoding=response.encoding, page=page, tree=tree):
            yield r

    def follow_page(
        self, seed: Seed, rec: Recorded, level: int, body: bytes, base_url: str, *,
        encoding: str | None = None, page: PageLinks | None = None, tree: etree._Element | None = None,
    ) -> Iterable[scrapy.Request]:
        """Record a page's links, and request its requisites and (within depth) what it cites.
        `page` is given when the links were already extracted (a huge page, streamed in a thread);
        `tree`, when the page was already parsed (links.page_tree)."""
        if page is None:
            # The seed's citations decide what is fetched: trafilatura finds them better (about 30 ms,
            # once per snapshot; benchmarks/extraction.py); a cited page's links are only recorded.
            main = main_links(body, base_url) if rec.role == "seed" and looks_like_article(body) else set()
            page = cap_links(extract_page_links(body, base_url, guess_favicon=rec.role == "seed",
                                                main_links=main, encoding=encoding, doc=tree),
                             self.max_links)
        kept = len(page.cited) + len(page.navigation)
        if page.found > kept:
            self.recorder.record_failure(
                seed.snapshot_id, base_url[:_KEPT_URL],
                f"links cut: {page.found} found on the page, the first {kept} recorded "
                "(limit CITEVAULT_MAX_LINKS_PER_PAGE)", role=rec.role, parent_id=rec.id,
            )
            self.progress.failed += 1
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
        max_size = request.meta.get("download_maxsize", self.settings.getint("DOWNLOAD_MAXSIZE"))
        reason = describe_failure(failure, self.settings.getfloat("DOWNLOAD_TIMEOUT"), max_size)
        self.recorder.record_failure(
            seed.snapshot_id, request.url, reason, role=meta["cv_role"], parent_id=meta["cv_parent"]
        )
        self._report()

    def count(self, nbytes: int | None) -> None:
        self._count(nbytes)

    def _count(self, nbytes: int | None) -> None:
        self.progress.done += 1
        self.progress.bytes += nbytes or 0
        self._report()

    def closed(self, reason: str) -> defer.Deferred[None] | None:
        for seed in self.seeds:
            origins = self.tls_facts.of(self._origins.get(seed.snapshot_id, set()))
            if origins:
                self.recorder.record_snapshot_info(seed.snapshot_id, "tls", {"origins": origins})
        self._report(force=True)
        if self.browser is not None:
            # The browser goes with the crawl (its driver and Chromium processes with it).
            return defer.Deferred.fromFuture(asyncio.ensure_future(self.browser.close()))
        return None
