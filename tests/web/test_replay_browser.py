"""Replay in a real browser (Playwright driving Debian's Chromium) against the real `citevault serve`,
with every non-loopback request sent to a black-hole proxy that logs it: nothing may leave for the
live web, in the rewritten replay or in the raw copy (`id_`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from citevault.archive import Archive
from citevault.config import Settings
from citevault.storage.models import Capture, Link, LinkCheck
from tests.app.test_service_e2e import Served, served  # noqa: F401  (fixture)
from tests.conftest import IN_CI
from tests.fakeweb import FakeWeb, NewsSite

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-extensions", "--disable-default-apps",
    "--disable-domain-reliability", "--disable-client-side-phishing-detection", "--no-pings",
    "--disable-features=OptimizationHints,MediaRouter,Translate,NetworkTimeServiceQuerying,"
    "AutofillServerCommunication,CertificateTransparencyComponentUpdater,DialMediaRouteProvider",
]
# Chromium's own services (updates, sign-in, time): its traffic, not the page's. The pages under
# test live on .test hosts, so ignoring these cannot hide a leak of theirs.
_BROWSER_OWN = ("update.googleapis.com", "accounts.google.com", "clients2.google.com",
                "safebrowsing.googleapis.com", "optimizationguide-pa.googleapis.com",
                "connectivitycheck.gstatic.com")

pytestmark = pytest.mark.slow


def _need_browser() -> None:
    missing = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = "the playwright package is not installed"
    if missing is None and not CHROMIUM.exists():
        missing = f"{CHROMIUM} is missing (apt-get install chromium)"
    if missing:
        if IN_CI:
            pytest.fail(f"{missing} (CI=true: browser tests must run)")
        pytest.skip(missing)


def live_requests(hole: FakeWeb) -> list[str]:
    """What reached the black hole, less the browser's own background traffic."""
    out = []
    for r in hole.requests:
        host = (r.url.rsplit(":", 1)[0] if r.method == "CONNECT" else urlsplit(r.url).hostname) or ""
        if host not in _BROWSER_OWN:
            out.append(f"{r.method} {r.url}")
    return out


@pytest.fixture(scope="module")
def blackhole() -> Iterator[FakeWeb]:
    """A proxy without a single route: every request it gets is logged and answered 404."""
    with FakeWeb() as hole:
        yield hole


@pytest.fixture(scope="module")
def chromium(blackhole: FakeWeb) -> Iterator[Any]:
    """One Chromium for the module (a launch costs seconds); each test has a context of its own."""
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
            # Loopback (the service) goes direct; everything else into the black hole.
            proxy={"server": blackhole.proxy_url, "bypass": "127.0.0.1,localhost"},
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page(chromium: Any, blackhole: FakeWeb) -> Iterator[Any]:
    """A fresh browser context's page; the black hole's log starts empty for this test."""
    blackhole.clear_requests()
    context = chromium.new_context(viewport={"width": 1200, "height": 900}, service_workers="allow")
    try:
        yield context.new_page()
    finally:
        context.close()


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
def archived_news(
    news: NewsSite, served: Callable[..., Served], monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> tuple[Served, str]:
    """The news article captured through the fake web, then the real service over that archive
    (with no proxy: it never fetches anything here). Returns the service and the seed's timestamp."""
    archive = Archive(Settings())
    try:
        assert archive.capture(archive.queue([news.article])) == 0
        with archive.index.session() as s:
            ts = s.scalars(select(Capture.timestamp).where(Capture.url == news.article)).one()
    finally:
        archive.close()
    for var in [v for v in os.environ if v.lower().endswith("_proxy")]:
        monkeypatch.delenv(var)
    return served(CITEVAULT_WORKERS="0"), ts


def test_raw_copy_makes_no_live_request(archived_news: tuple[Served, str], news: NewsSite,
                                        browser_page: Any, blackhole: FakeWeb) -> None:
    svc, ts = archived_news
    page = browser_page
    resp = page.goto(f"http://127.0.0.1:{svc.port}/web/{ts}id_/{news.article}")
    assert resp is not None and resp.status == 200
    page.wait_for_load_state("networkidle")
    screenshot(page, "raw-copy-news-article")
    assert news.title in page.content()  # the archived bytes, shown
    assert live_requests(blackhole) == []


def test_classic_article_replays_with_requisites_from_the_archive(
    archived_news: tuple[Served, str], news: NewsSite, browser_page: Any, blackhole: FakeWeb
) -> None:
    svc, ts = archived_news
    page = browser_page
    loaded: dict[str, int] = {}
    origin = f"http://127.0.0.1:{svc.port}"

    def seen(response: Any) -> None:
        url = response.url
        if url.startswith(f"{origin}/web/"):
            archived = url.split("/", 5)[5] if url.count("/") >= 5 else url
            loaded[archived] = response.status

    page.on("response", seen)
    resp = page.goto(f"{origin}/web/{ts}/{news.article}")
    assert resp is not None and resp.status == 200
    page.wait_for_load_state("networkidle")
    # The web font is fetched when text first needs it: wait until that fetch has settled (the
    # fake site's font file has the right magic only, so it never decodes).
    page.evaluate("document.fonts.load('16px \"Ledger Serif\"').then(() => true, () => true)")
    needed = [u for u in news.requisites if not u.endswith((".jpg", ".ico"))]
    for _ in range(300):  # response events arrive after the loads they report: wait for them
        if set(needed) <= set(loaded):
            break
        page.wait_for_timeout(100)
    screenshot(page, "replay-news-article")
    assert page.locator("h1").first.inner_text() == news.title
    # Every requisite the browser asked for came from the archive; those that any browser loads
    # (a srcset picks one candidate, a headless one may skip the favicon) all did.
    asked = [u for u in news.requisites if u in loaded]
    assert all(loaded[u] == 200 for u in asked), loaded
    assert set(needed) <= set(asked), f"not replayed: {set(needed) - set(asked)}"
    assert any(u.endswith(".jpg") for u in asked)
    # The stylesheet applied: the web font's family is the archived CSS's.
    assert "Ledger Serif" in page.evaluate("getComputedStyle(document.body).fontFamily")
    assert live_requests(blackhole) == []


def test_replayed_script_cannot_act_on_the_api(web: FakeWeb, served: Callable[..., Served],  # noqa: F811
                                               browser_page: Any, blackhole: FakeWeb,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """An archived page whose script POSTs to the API (a link check now, which needs no token on an
    archive without tokens): Chromium sends it from the sandbox's origin "null", and it is refused."""
    replay_url = _replay_archived(web, served, monkeypatch, "https://evil.test/page", (
        '<!DOCTYPE html><title>evil</title><main><p>See <a href="https://cited.test/x">this '
        "report</a>.</p></main><script>fetch('/api/sources/1/check', {method: 'POST'});</script>"))
    page = browser_page
    # Chromium sends it (the answer is then hidden from the script by CORS): wait until it is done.
    with page.expect_event("requestfailed", lambda r: r.url.endswith("/api/sources/1/check"),
                           timeout=60_000):
        page.goto(replay_url)
    # Refused: no check ran (it would have stored one row per cited link, a failure included).
    archive = Archive(Settings())
    try:
        with archive.index.session() as s:
            assert s.scalar(select(func.count()).select_from(LinkCheck)) == 0
            assert s.scalar(select(func.count()).select_from(Link)) >= 1  # there was one to check
    finally:
        archive.close()
    assert live_requests(blackhole) == []


def _replay_archived(web: FakeWeb, served: Callable[..., Served], monkeypatch: pytest.MonkeyPatch,  # noqa: F811
                     url: str, html: str) -> str:
    """Capture one page of the fake web, start the service over the archive: its replay URL."""
    web.add(url, html)
    archive = Archive(Settings())
    try:
        assert archive.capture(archive.queue([url])) == 0
        with archive.index.session() as s:
            ts = s.scalars(select(Capture.timestamp).where(Capture.url == url)).one()
    finally:
        archive.close()
    for var in [v for v in os.environ if v.lower().endswith("_proxy")]:
        monkeypatch.delenv(var)
    return f"http://127.0.0.1:{served(CITEVAULT_WORKERS='0').port}/web/{ts}/{url}"


def _open_until_ran(page: Any, url: str) -> Any:
    """Open a replay whose script ends by setting the title to "ran"; wait for it and the network."""
    page.goto(url)
    page.wait_for_function("document.title === 'ran'")
    page.wait_for_load_state("networkidle")
    return page


def test_replayed_scripts_open_no_popup_pixel_or_beacon(
    web: FakeWeb, served: Callable[..., Served], browser_page: Any, blackhole: FakeWeb,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    replay_url = _replay_archived(web, served, monkeypatch, "https://adpage.test/p", (
        '<!DOCTYPE html><p><a href="https://adpage.test/q" target="_blank">more</a></p><script>'
        'new Image().src = "https://pixel.ads.test/p.gif";'
        'navigator.sendBeacon("https://beacon.ads.test/b", "x");'
        'try { window.open("https://popup.ads.test/"); } catch (e) {}'
        'document.title = "ran";</script>'))
    page = _open_until_ran(browser_page, replay_url)
    assert page.locator("a").last.get_attribute("target") is None  # opens in place, not a popup
    assert live_requests(blackhole) == []
