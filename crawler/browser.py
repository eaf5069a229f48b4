"""Chromium, driven by Playwright, rendering pages whose every request is answered by a fetcher we
give it (the crawler's own downloader): the browser itself has no way out to the network.

Why this shape (issue 9 weighed three): the browser's requests are intercepted by Playwright's
routing (CDP's Fetch domain) and handed to Scrapy's downloader, the one the HTTP crawl uses, so
one code path keeps the raw bytes (Content-Encoding intact), applies the network policy (checked
on the address connected to), politeness, retries and the operator's http(s)_proxy chaining, and
records the TLS facts of each origin. A recording proxy (mitmproxy in its own venv, proxy.py
in-process) would need a second HTTP client with its own TLS interception, its own policy checks
and its own proxy chaining, each a copy of what the crawler has; mitmproxy also moves Scrapy and
pyOpenSSL back when installed beside us. The bodies the browser gets are decoded (it must render
them); the archived records are the downloader's raw ones, never CDP's decoded bodies.

Defence in depth: Chromium is started with a dead proxy, so a request that escaped routing (a
preconnect, a service worker: blocked too) fails instead of reaching the live web.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "BrowserFailed",
    "BrowserPool",
    "BrowserRequest",
    "Fetched",
    "PageOptions",
    "RenderedPage",
    "chromium_path",
]

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
    # Nowhere to go but through our routing: a closed loopback port as proxy for everything.
    "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    # One renderer per page, not one more per cross-site frame (an ad iframe): measured in
    # benchmarks/browser.py, memory of the tree with 2 pages at a time. The pages have no
    # credentials or network of their own to isolate.
    "--disable-features=IsolateOrigins,site-per-process", "--disable-site-isolation-trials",
]
# Request headers the browser sets that describe its own connection, not the request.
# Accept-Encoding too: the downloader asks for the encodings it can decode for the browser.
_DROP_REQUEST = {"host", "connection", "content-length", "proxy-connection", "keep-alive", "accept-encoding"}
# Response headers that no longer describe the decoded body the browser is given.
_DROP_RESPONSE = {"content-encoding", "content-length", "transfer-encoding", "connection", "keep-alive"}


_TWO_FRAMES = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))"
_IMAGES_DONE = "() => Array.from(document.images).every(i => !i.currentSrc && !i.src || i.complete)"


class BrowserFailed(Exception):
    """The browser could not render a page: crashed, hung past its budget, or could not start."""


def chromium_path(configured: str | None = None) -> str | None:
    """The Chromium executable to use, or None when there is none (a configured path is the only
    one tried: the operator asked for that browser)."""
    for cand in (configured,) if configured else ("/usr/bin/chromium", shutil.which("chromium")):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return None


@dataclass(frozen=True)
class BrowserRequest:
    """A request the page made, as the browser would have sent it."""

    url: str
    method: str
    headers: list[tuple[str, str]]
    body: bytes | None
    navigation: bool


@dataclass
class Fetched:
    """A response for the browser: status, headers and the body decoded of Content-Encoding."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


Fetcher = Callable[[BrowserRequest], Awaitable[Fetched]]


@dataclass(frozen=True)
class PageOptions:
    """What the page routine does, and its limits."""

    budget: float = 30.0  # seconds, the whole routine
    quiet: float = 0.5  # the network counts as quiet after this long without requests in flight
    scroll_quiet: float = 0.2  # the same after each scroll step (only what came into view loads)
    scroll_steps: int = 12
    full_page_max_height: int = 8_000  # px; taller pages get the viewport screenshot only
    pdf: bool = False
    viewport: tuple[int, int] = (1280, 900)
    user_agent: str | None = None


@dataclass
class RenderedPage:
    """What the browser saw."""

    url: str
    html: str
    title: str
    screenshot: bytes  # PNG, the viewport
    full_page: bytes | None = None  # PNG, the whole page when it fits the cap
    pdf: bytes | None = None
    seconds: float = 0.0
    requests: int = 0


@dataclass
class _Traffic:
    in_flight: int = 0
    last_change: float = field(default_factory=time.monotonic)
    count: int = 0

    def start(self) -> None:
        self.in_flight += 1
        self.count += 1
        self.last_change = time.monotonic()

    def end(self) -> None:
        self.in_flight -= 1
        self.last_change = time.monotonic()


def _deathsig_wrapper(directory: Path, executable: str) -> str:
    """A launcher that makes Chromium die with its parent (PR_SET_PDEATHSIG through setpriv): if
    the job is killed (-9 included), Playwright's driver loses its pipe and exits, and the kernel
    then kills the browser, so no Chromium outlives its job."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return executable
    path = directory / "chromium"
    path.write_text(f'#!/bin/sh\nexec "{setpriv}" --pdeathsig KILL -- "{executable}" "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


class BrowserPool:
    """One Chromium for a capture job, started on first use, with at most `size` pages at once,
    each in a fresh context. A crashed browser is started again for the next page."""

    def __init__(self, executable: str, *, size: int = 2, options: PageOptions | None = None) -> None:
        self.executable = executable
        self.options = options or PageOptions()
        self._slots = asyncio.Semaphore(max(1, size))
        self._pw: Any = None
        self._browser: Any = None
        self._starting = asyncio.Lock()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None  # the launcher's directory

    async def _ensure(self) -> Any:
        async with self._starting:
            if self._browser is not None and self._browser.is_connected():
                return self._browser
            from playwright.async_api import async_playwright  # only where a browser runs

            if self._pw is None:
                self._pw = await async_playwright().start()
            if self._tmp is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="citevault-browser-")
            try:
                self._browser = await self._pw.chromium.launch(
                    executable_path=_deathsig_wrapper(Path(self._tmp.name), self.executable),
                    args=CHROMIUM_ARGS, headless=True, timeout=30_000,
                    handle_sigint=False, handle_sigterm=False, handle_sighup=False,
                )
            except Exception as exc:
                raise BrowserFailed(f"browser: Chromium did not start: {_one_line(exc)}") from exc
            return self._browser

    async def render(self, url: str, document: Fetched, fetch: Fetcher) -> RenderedPage:
        """Load `url` (its document answered with `document`, already fetched), let it settle,
        scroll for lazy content, and take what it shows. Raises BrowserFailed with a reason."""
        async with self._slots:
            browser = await self._ensure()
            opts = self.options
            context = await browser.new_context(
                service_workers="block", java_script_enabled=True, accept_downloads=False,
                viewport={"width": opts.viewport[0], "height": opts.viewport[1]},
                **({"user_agent": opts.user_agent} if opts.user_agent else {}),
            )
            try:
                return await asyncio.wait_for(
                    self._routine(context, url, document, fetch), timeout=opts.budget
                )
            except TimeoutError as exc:
                raise BrowserFailed(f"browser: page exceeded its budget of {opts.budget:g}s") from exc
            except BrowserFailed:
                raise
            except Exception as exc:
                if not browser.is_connected():
                    raise BrowserFailed(f"browser: Chromium crashed: {_one_line(exc)}") from exc
                raise BrowserFailed(f"browser: {_one_line(exc)}") from exc
            finally:
                try:
                    await asyncio.wait_for(context.close(), timeout=5)
                except Exception:
                    # A context that will not close is a hung browser: start a fresh one.
                    await self._kill()

    async def _routine(self, context: Any, url: str, document: Fetched, fetch: Fetcher) -> RenderedPage:
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        opts = self.options
        started = time.monotonic()
        traffic = _Traffic()
        served_document = False

        async def handle(route: Any) -> None:
            nonlocal served_document
            req = route.request
            traffic.start()
            try:
                if not served_document and req.is_navigation_request() and req.url == url:
                    served_document = True
                    answer = document
                else:
                    headers = [(k, v) for k, v in (await req.all_headers()).items()
                               if k.lower() not in _DROP_REQUEST and not k.startswith(":")]
                    answer = await fetch(BrowserRequest(
                        url=req.url, method=req.method, headers=headers,
                        body=req.post_data_buffer, navigation=req.is_navigation_request(),
                    ))
                await route.fulfill(
                    status=answer.status, body=answer.body,
                    headers=_merge([(k, v) for k, v in answer.headers if k.lower() not in _DROP_RESPONSE]),
                )
            except Exception:
                with contextlib.suppress(Exception):
                    await route.abort("failed")
            finally:
                traffic.end()

        await context.route("**/*", handle)
        page = await context.new_page()
        deadline = started + opts.budget * 0.8  # leave time to take the pictures
        try:
            await page.goto(url, wait_until="load", timeout=max(1.0, deadline - time.monotonic()) * 1000)
        except PlaywrightTimeout:
            pass  # a load event that never comes (a stalled request): take the page as it is
        await self._settle(page, traffic, deadline)
        view_h = opts.viewport[1]
        for _ in range(opts.scroll_steps):
            if time.monotonic() >= deadline:
                break
            at_end = await page.evaluate(
                "h => { window.scrollBy(0, h); return window.scrollY + window.innerHeight"
                " >= document.documentElement.scrollHeight - 2; }", view_h,
            )
            await self._settle(page, traffic, deadline, opts.scroll_quiet)
            if at_end:
                break
        await page.evaluate("() => window.scrollTo(0, 0)")
        await self._settle(page, traffic, deadline)
        screenshot = await page.screenshot(type="png")
        height = await page.evaluate("() => document.documentElement.scrollHeight")
        full = None
        if isinstance(height, int) and height <= opts.full_page_max_height:
            full = await page.screenshot(type="png", full_page=True)
        pdf = await page.pdf() if opts.pdf else None
        return RenderedPage(
            url=page.url, html=await page.content(), title=await page.title(), screenshot=screenshot,
            full_page=full, pdf=pdf, seconds=time.monotonic() - started, requests=traffic.count,
        )

    async def _settle(
        self, page: Any, traffic: _Traffic, deadline: float, quiet: float | None = None
    ) -> None:
        """Wait (until the deadline at most) for the page to go quiet: two rendering frames passed
        (so observers of what scrolled into view have run and started their loads), every image
        that has a source finished loading, and no request in flight for `quiet` seconds."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(page.evaluate(_TWO_FRAMES), max(0.1, deadline - time.monotonic()))
        quiet = self.options.quiet if quiet is None else quiet
        traffic.last_change = max(traffic.last_change, time.monotonic() - quiet / 2)
        while time.monotonic() < deadline:
            if traffic.in_flight <= 0 and time.monotonic() - traffic.last_change >= quiet:
                with contextlib.suppress(Exception):
                    if await page.evaluate(_IMAGES_DONE):
                        return
            await asyncio.sleep(0.05)

    async def _kill(self) -> None:
        browser, self._browser = self._browser, None
        if browser is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(browser.close(), timeout=5)

    async def close(self) -> None:
        """Stop the browser and its driver (nothing of it outlives the job)."""
        await self._kill()
        pw, self._pw = self._pw, None
        if pw is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pw.stop(), timeout=10)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def _merge(headers: list[tuple[str, str]]) -> dict[str, str]:
    """Playwright takes a dict: repeated headers are joined (Set-Cookie by newline, as CDP wants)."""
    out: dict[str, str] = {}
    for k, v in headers:
        key = k.lower()
        if key in out:
            out[key] += ("\n" if key == "set-cookie" else ", ") + v
        else:
            out[key] = v
    return out


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]
