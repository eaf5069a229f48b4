"""Replay in a real browser: the modern fake site (tests/sites/modern.py) captured through
`citevault add` in Chromium, then replayed by the real service on a free port and opened in
Chromium whose every non-loopback request goes to a black-hole proxy that logs it. The
script-built article shows its text and the embedded tweet's, the tweet's status page its author
and text, the screenshot is one click away, a cache-busted API URL finds the archived JSON, and
nothing reaches for the live web. Screenshots of each replay go to tests/artifacts/."""

from __future__ import annotations

import os
import re
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, Request, sync_playwright
from typer.testing import CliRunner

from citevault.archive import Archive
from citevault.cli import get_app
from citevault.config import Settings
from citevault.crawler.browser import chromium_path
from citevault.web import create_app
from tests.conftest import IN_CI
from tests.fakeweb import FakeWeb
from tests.sites.modern import (
    TWEET_AUTHOR,
    TWEET_DATE,
    TWEET_HANDLE,
    TWEET_TEXT,
    ModernSite,
    build_modern_site,
)

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
TIMEOUT_MS = 30_000  # per browser action: generous on two busy cores, never waited out on success
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage", "--no-pings",
        "--disable-domain-reliability", "--disable-client-side-phishing-detection", "--disable-default-apps",
        "--disable-features=OptimizationHints,MediaRouter,Translate,AutofillServerCommunication,"
        "CertificateTransparencyComponentUpdater,SignInProfileCreation,AccountConsistency"]

# Chromium's own service traffic (component updater, network time, account checks), which Debian's
# build sends whatever the flags: left out of the count. No replayed page names these hosts (the
# fake site has none), and every request a page makes is also checked at the page (Replay.open).
_CHROMIUM_OWN = re.compile(r"(^|\.)(google\.com|googleapis\.com|gvt1\.com)$")


def _host(request_line: str) -> str:
    """The host a proxy request line names: `CONNECT host:443 ...` or `GET http://host/... ...`."""
    parts = request_line.split()
    target = parts[1] if len(parts) > 1 else ""
    if parts and parts[0] == "CONNECT":
        return target.rsplit(":", 1)[0]
    return urlsplit(target).hostname or target


class _BlackHole(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Swallow)
        self.log: list[str] = []
        self.lock = threading.Lock()


class _Swallow(socketserver.StreamRequestHandler):
    """Logs the request line (a CONNECT for https) and answers 502: nothing goes further."""

    def handle(self) -> None:
        line = self.rfile.readline(8192).decode("latin-1").strip()
        server = self.server
        assert isinstance(server, _BlackHole)
        with server.lock:
            server.log.append(line)
        self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Replay:
    base: str
    modern: ModernSite
    browser: Browser
    proxy_log: list[str]
    page_requests: list[str] = field(default_factory=list)  # what pages asked for off loopback

    @property
    def live_requests(self) -> list[str]:
        """Requests that left for the live web: at the black hole, and as pages made them."""
        return [r for r in self.proxy_log if not _CHROMIUM_OWN.search(_host(r))] + self.page_requests

    def new_page(self) -> Page:
        page = self.browser.new_page()
        page.set_default_timeout(TIMEOUT_MS)

        def seen(request: Request) -> None:
            parts = urlsplit(request.url)
            if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname != "127.0.0.1":
                self.page_requests.append(request.url)

        page.on("request", seen)
        return page

    def open(self, path: str) -> Page:
        page = self.new_page()
        page.goto(self.base + path)
        return page


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replay]:
    """The modern site captured in a browser, the real service replaying it, Chromium behind the
    black hole."""
    chromium = chromium_path()
    if chromium is None:
        if IN_CI:
            pytest.fail("Chromium is missing at /usr/bin/chromium (CI=true: browser tests must run)")
        pytest.skip("Chromium is not installed (/usr/bin/chromium): replay in a browser not tested")
    with pytest.MonkeyPatch.context() as mp, FakeWeb() as fw:
        for var in list(os.environ):
            if var.startswith("CITEVAULT_") or var.lower() in ("http_proxy", "https_proxy", "no_proxy"):
                mp.delenv(var)
        mp.setenv("CITEVAULT_HOME", str(tmp_path_factory.mktemp("replay") / "home"))
        mp.setenv("CITEVAULT_BROWSER", "auto")
        mp.setenv("CITEVAULT_ALLOW_PRIVATE_NETWORKS", "1")
        for k, v in fw.proxy_env().items():
            mp.setenv(k, v)
        modern = build_modern_site(fw)
        result = CliRunner().invoke(get_app(), ["add", modern.article, "--json"])
        assert result.exit_code == 0, result.output
        settings = Settings()
    # The fake web is gone: whatever the replay shows comes from the archive.
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, Archive(settings)), host="127.0.0.1",
                                           port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "the service did not start"
    hole = _BlackHole()
    hole_thread = threading.Thread(target=hole.serve_forever, daemon=True)
    hole_thread.start()
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        with sync_playwright() as pw:
            # Loopback (the service) goes direct; everything else to the black hole.
            browser = pw.chromium.launch(executable_path=chromium, headless=True, timeout=TIMEOUT_MS,
                                         args=[*ARGS, f"--proxy-server=http://127.0.0.1:{hole.server_address[1]}"])
            try:
                yield Replay(f"http://127.0.0.1:{port}", modern, browser, hole.log)
            finally:
                browser.close()
    finally:
        hole.shutdown()
        hole.server_close()
        server.should_exit = True
        thread.join(timeout=30)


def test_script_built_article_replays_as_seen(replay: Replay) -> None:
    modern = replay.modern
    page = replay.open(f"/web/{modern.article}")
    page.get_by_text(modern.article_text).wait_for()
    body = page.locator("body").inner_text()
    assert "Old city without water as main line fails" in body
    assert TWEET_TEXT in body and f"@{TWEET_HANDLE}" in body  # the embedded tweet, rendered
    assert "Could not load" not in body and "enable JavaScript" not in body
    for img in ("#hero", "#lazy"):  # inserted by scripts; the lazy one after scrolling
        page.locator(img).scroll_into_view_if_needed()
        assert _wait_image(page, img), img
    # Cited links lead into the archive.
    href = page.get_by_role("link", name="the ministry report").get_attribute("href") or ""
    assert href.endswith(f"/{modern.cited[0]}") and "/web/" in href
    page.screenshot(path=str(ARTIFACTS / "replay-article.png"), full_page=True)
    # The screenshot taken at capture time, one click away.
    with page.expect_navigation():
        page.locator("#citevault-banner").get_by_role("link", name="Screenshot", exact=True).click()
    shot = page.context.request.get(page.url)
    assert shot.status == 200 and shot.headers["content-type"] == "image/png"
    assert shot.body().startswith(b"\x89PNG")
    assert replay.live_requests == [], replay.live_requests


def _wait_image(page: Page, selector: str) -> bool:
    """Whether the image finished loading with pixels (waits for the load, bounded)."""
    handle = page.locator(selector)
    handle.wait_for()
    return bool(handle.evaluate(
        "img => img.complete ? img.naturalWidth > 0 : new Promise(ok => {"
        " img.addEventListener('load', () => ok(img.naturalWidth > 0));"
        " img.addEventListener('error', () => ok(false)); })"
    ))


def test_tweet_status_page_shows_author_and_text(replay: Replay) -> None:
    page = replay.open(f"/web/{replay.modern.tweet}")
    page.get_by_text(TWEET_TEXT).first.wait_for()
    body = page.locator("body").inner_text()
    assert "JavaScript is not available" not in body
    card = page.locator("#citevault-tweet").inner_text()
    for part in (TWEET_AUTHOR, f"@{TWEET_HANDLE}", TWEET_DATE, TWEET_TEXT):
        assert part in card, part
    page.screenshot(path=str(ARTIFACTS / "replay-tweet.png"), full_page=True)
    assert replay.live_requests == [], replay.live_requests


def test_cache_busted_api_url_finds_the_archived_json(replay: Replay) -> None:
    page = replay.new_page()
    response = page.goto(f"{replay.base}/web/2026id_/{replay.modern.api_json}?v=1")
    assert response is not None and response.status == 200
    assert response.json()["sources"] == replay.modern.cited
    assert replay.live_requests == [], replay.live_requests


def test_sources_show_a_thumbnail_of_their_screenshot(replay: Replay) -> None:
    """The start page and the source page show the browser's screenshot of a rendered source."""
    page = replay.open("/")
    thumb = page.locator("img.thumb").first
    thumb.wait_for()
    assert _wait_image(page, "img.thumb >> nth=0")
    src = thumb.get_attribute("src") or ""
    assert "/seen/" in src and "/view/" in src
    shot = page.request.get(replay.base + src)
    assert shot.status == 200 and shot.body().startswith(b"\x89PNG")
    page.locator("a.title").first.click()
    assert _wait_image(page, "img.thumb >> nth=0")
    assert replay.live_requests == [], replay.live_requests
