"""Browser capture inside a crawl: the spider hands pages that need a browser here; each request
the page makes is downloaded by the crawl's own Scrapy downloader (raw bytes recorded by the same
middleware and recorder as every HTTP fetch) and answered to Chromium; the screenshot and the
rendered DOM become resource records tied to the page, and the rendered DOM's links are followed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import scrapy
from lxml import etree
from scrapy.http import Response
from scrapy.settings import BaseSettings
from twisted.python.failure import Failure

from citevault.storage.models import HTML_TYPES

from .browser import BrowserFailed, BrowserPool, BrowserRequest, Fetched, PageOptions, chromium_path
from .browserchoice import DEFAULT_BROWSER_HOSTS, browser_reason
from .middlewares import RAW_META_KEY
from .recorder import Exchange, Recorded

if TYPE_CHECKING:
    from .spider import CaptureSpider

__all__ = ["BrowserCapture", "PageTask", "resource_uri"]

def resource_uri(kind: str, url: str) -> str:
    """browsertrix-crawler's naming of what a page became: urn:view: (viewport PNG),
    urn:fullPage: (full-page PNG); we add urn:dom: (rendered HTML) and urn:pdf: in that scheme."""
    return f"urn:{kind}:{url}"


@dataclass
class PageTask:
    """A page the spider recorded and hands to the browser."""

    snapshot_id: int
    url: str
    record: Recorded
    response: Response
    exchange: Exchange


class BrowserCapture:
    """The browser side of one crawl: decides which pages go to Chromium, and renders them."""

    def __init__(self, spider: CaptureSpider, settings: BaseSettings) -> None:
        self.spider = spider
        self.mode = settings.get("CITEVAULT_BROWSER", "never")
        self.hosts = settings.getlist("CITEVAULT_BROWSER_HOSTS") or list(DEFAULT_BROWSER_HOSTS)
        executable = chromium_path(settings.get("CITEVAULT_CHROMIUM") or None)
        self.pool: BrowserPool | None = None
        # Started on first use only: a crawl whose pages need no browser never starts Chromium
        # (a source's own mode may ask for it where the crawl's setting says never).
        if executable is not None:
            self.pool = BrowserPool(
                executable, size=settings.getint("CITEVAULT_BROWSER_POOL", 2),
                options=PageOptions(
                    budget=settings.getfloat("CITEVAULT_BROWSER_BUDGET", 30.0),
                    pdf=settings.getbool("CITEVAULT_BROWSER_PDF"),
                    user_agent=settings.get("USER_AGENT") or None,
                ),
            )

    def wants(
        self, response: Response, role: str, mime: str, mode: str | None = None, *,
        tree: etree._Element | None = None,
    ) -> str | None:
        """Why this page goes to the browser, or None. `mode` is the source's own, if it has one;
        `tree`, the page already parsed (the spider parses it once, for this and its links)."""
        mode = mode or self.mode
        if role not in ("seed", "cited") or mime not in HTML_TYPES or not 200 <= response.status < 300:
            return None
        if mode == "always":
            return "--browser always"
        if mode != "auto" or self.pool is None:  # auto without Chromium: the HTTP path
            return None
        return browser_reason(response.url, response.body, self.hosts, tree=tree)

    # -- the front: the browser's requests through our downloader --------------------------------
    async def _fetch(self, task: PageTask, req: BrowserRequest) -> Fetched:
        spider = self.spider
        seed_id = task.snapshot_id
        request = scrapy.Request(
            req.url, method=req.method, headers=dict(req.headers), body=req.body,
            dont_filter=True, meta={"handle_httpstatus_all": True, "cv_browser": True},
        )
        engine = spider.crawler.engine
        assert engine is not None
        try:
            response = await engine.download_async(request)
        except Exception as exc:
            if spider.claim(seed_id, req.url):
                reason = spider.failure_reason(Failure(exc))  # type: ignore[no-untyped-call]
                spider.recorder.record_failure(
                    seed_id, req.url, reason, role="requisite", parent_id=task.record.id, via="browser"
                )
                spider.progress.failed += 1
            raise
        exchange: Exchange | None = request.meta.get(RAW_META_KEY)
        if exchange is not None and spider.claim(seed_id, req.url):
            location = response.headers.get("Location")
            redirect = 300 <= response.status < 400 and location is not None
            rec = spider.recorder.record(
                seed_id, exchange, role="redirect" if redirect else "requisite",
                parent_id=task.record.id, via="browser",
                redirect_to=urljoin(req.url, location.decode("latin-1").strip()) if location else None,
            )
            spider.note_origin(seed_id, req.url)
            spider.count(rec.length)
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, vs in response.headers.items() for v in vs
        ]
        return Fetched(status=response.status, headers=headers, body=response.body)

    # -- a page ------------------------------------------------------------------------------------
    async def capture(self, task: PageTask, level: int, seed: Any) -> AsyncIterator[scrapy.Request]:
        """Render the page, record what it became, and yield the requests its rendered DOM leads to."""
        spider = self.spider
        if self.pool is None:
            spider.recorder.record_failure(
                task.snapshot_id, resource_uri("view", task.url),
                "browser: Chromium is not installed (set CITEVAULT_CHROMIUM)", role="requisite",
                parent_id=task.record.id, via="browser",
            )
            for r in spider.follow_page(seed, task.record, level, task.response.body, task.url):
                yield r
            return
        document = Fetched(
            status=task.response.status,
            headers=[(k, v) for k, v in task.exchange.response_headers],
            body=task.response.body,
        )
        try:
            page = await self.pool.render(task.url, document, lambda req: self._fetch(task, req))
        except BrowserFailed as exc:
            # The page stays archived as the server sent it; its links come from that HTML.
            spider.recorder.record_failure(
                task.snapshot_id, resource_uri("view", task.url), str(exc), role="requisite",
                parent_id=task.record.id, via="browser",
            )
            spider.progress.failed += 1
            for r in spider.follow_page(seed, task.record, level, task.response.body, task.url):
                yield r
            return
        for kind, ctype, body in (
            ("view", "image/png", page.screenshot),
            ("fullPage", "image/png", page.full_page),
            ("dom", "text/html; charset=utf-8", page.html.encode("utf-8")),
            ("pdf", "application/pdf", page.pdf),
        ):
            if body:
                rec = spider.recorder.record_resource(
                    task.snapshot_id, resource_uri(kind, task.url), ctype, body,
                    role="requisite", parent_id=task.record.id,
                )
                spider.count(rec.length)
        # Links of the page as the reader saw it (scripts inserted citations); relative links
        # resolve against where the page ended up (history.pushState may have moved it).
        base = page.url if urlsplit(page.url).scheme in ("http", "https") else task.url
        for r in spider.follow_page(seed, task.record, level, page.html.encode("utf-8"), base):
            yield r

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()

