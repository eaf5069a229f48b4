"""The web interface in a real browser (Debian's Chromium through Playwright) against the real
service on a free port and the fake web: log in with a token, archive the fake article through the
form, watch the progress, open the source page, copy a citation, open the replay, retry a failed
capture, log out; with a desktop and a 390-px phone side by side. Every page must not scroll sideways and
must pass axe-core with no serious or critical violation; screenshots go to tests/artifacts/."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from citevault.archive import Archive
from citevault.auth import create_token
from citevault.config import Settings
from tests.app.test_service_e2e import Served
from tests.fakeweb import FakeWeb, build_news_site

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
ARTIFACTS = Path(__file__).parents[1] / "artifacts"
FLAKY = "http://flaky.ui.test/story"
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
WAIT_MS = 45_000  # for a capture to finish: bounded, and a condition, not a sleep
_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run",
         "--no-proxy-server"]  # the service is on loopback; the fake web's proxy is for captures only


def _need_browser() -> Any:
    """Playwright's sync API, or a skip (a failure under CI) saying what is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "the playwright package is not installed"
    else:
        if CHROMIUM.exists():
            return sync_playwright
        reason = f"{CHROMIUM} is missing (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the browser tests must run)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def playwright_browser() -> Iterator[Any]:
    sync_playwright = _need_browser()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=_ARGS, headless=True)
        yield browser
        browser.close()


class Checker:
    """Runs the checks every page gets: no horizontal overflow, axe-core, a screenshot."""

    def __init__(self, page: Any, viewport: str) -> None:
        self.page = page
        self.viewport = viewport
        self.seen: list[str] = []

    def __call__(self, name: str) -> None:
        page = self.page
        page.wait_for_load_state("load")
        widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{self.viewport}-{name}.png"), full_page=True)
        page.screenshot(path=str(ARTIFACTS / f"{self.viewport}-{name}-top.png"))  # what one sees first
        assert widths[0] <= widths[1], f"{name} at {self.viewport} scrolls sideways: {widths}"
        if AXE.exists():
            page.add_script_tag(path=str(AXE))
            found = page.evaluate("""async () => {
                const r = await axe.run(document, {resultTypes: ["violations"]});
                return r.violations.filter(v => v.impact === "serious" || v.impact === "critical")
                    .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(" "))}));
            }""")
            assert found == [], f"axe on {name} at {self.viewport}: {json.dumps(found, indent=1)}"
        self.seen.append(name)


@pytest.fixture
def service(tmp_path: Path, web: FakeWeb) -> Iterator[tuple[Served, str]]:
    """The real service, reads closed (so a browser needs the login), with one token."""
    home = tmp_path / "home"
    archive = Archive(Settings(home=home))
    token = create_token(archive.index, "browser")
    archive.close()
    served = Served(tmp_path, CITEVAULT_HOME=str(home), CITEVAULT_READ_TOKEN_REQUIRED="1").start()
    yield served, token
    served.close()


def _wait_finished(page: Any) -> None:
    """The source page reloads itself when the capture is done; wait for that page."""
    page.wait_for_selector("section.progress", state="detached", timeout=WAIT_MS)
    page.wait_for_selector("#timeline + ol .badge.s-done, #timeline + ol .badge.s-partial, "
                           "#timeline + ol .badge.s-failed", timeout=WAIT_MS)


def _login(page: Any, token: str) -> None:
    page.goto("/")
    assert "/ui/login" in page.url  # reads need a token: the start page sends a browser to log in
    page.fill("#f-token", token)
    page.click("form.stack button")
    page.wait_for_url("**/")


def _copy(page: Any, fmt: str) -> None:
    """Click a citation's copy button; the clipboard then holds the text of its box."""
    page.click(f"a[data-copy=cite-{fmt}]")
    page.wait_for_selector(f".cite:has(#cite-{fmt}) .copied:text('Copied')")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.input_value(f"#cite-{fmt}") and "/web/" in copied


def test_daily_use_in_a_browser(playwright_browser: Any, service: tuple[Served, str], web: FakeWeb) -> None:
    """One walk through the interface with a desktop and a phone side by side: each action is done
    at one of the two widths (captures are the slow part), every page is checked at both."""
    served, token = service
    news = build_news_site(web)
    web.add(FLAKY, "down for maintenance", status=503)
    base = f"http://127.0.0.1:{served.port}"
    contexts = {name: playwright_browser.new_context(
        viewport=size, base_url=base,
        bypass_csp=True,  # to inject axe-core; our own script loads from 'self' either way
        permissions=["clipboard-read", "clipboard-write"],
    ) for name, size in VIEWPORTS.items()}
    try:
        for ctx in contexts.values():
            ctx.set_default_timeout(15_000)
        desk, phone = (contexts[n].new_page() for n in VIEWPORTS)
        checks = {"desktop": Checker(desk, "desktop"), "phone": Checker(phone, "phone")}

        def check_both(name: str) -> None:
            if phone.url != desk.url:
                phone.goto(desk.url)
            checks["desktop"](name)
            checks["phone"](name)

        desk.goto("/")
        assert "/ui/login" in desk.url
        check_both("login")
        desk.fill("#f-token", "cvt_wrong")
        desk.click("form.stack button")
        assert desk.locator("[role=alert]").inner_text() == "invalid token"
        for page in (desk, phone):
            _login(page, token)
        cookie = next(c for c in contexts["phone"].cookies() if c["name"] == "citevault_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] > 0
        assert phone.locator("input[name=token]").count() == 0  # forms carry no token field
        check_both("home-empty")

        # Archive the article through the form on the phone, and watch it.
        phone.fill("#f-url", news.article)
        phone.fill("#f-note", "cited in the water-bill explainer")
        phone.click("form.archive button")
        phone.wait_for_url("**/ui/sources/*")
        if phone.locator("section.progress").count():
            checks["phone"]("progress")
        _wait_finished(phone)
        desk.goto(phone.url)
        check_both("source")
        assert news.title in phone.locator("h1").inner_text()
        # Pages first, requisites collapsed, the cited 404 marked.
        assert desk.locator("details.requisites").get_attribute("open") is None
        assert desk.locator("tr.bad", has_text=news.not_found).count() >= 1
        _copy(desk, "markdown")
        _copy(phone, "bibtex")
        for page in (desk, phone):  # the replay of the archived page
            page.click("text=Open the archived page")
            page.wait_for_url("**/web/**")
            assert news.title in page.title()
            page.go_back()
        desk.click("text=Link-health report")
        check_both("report")
        desk.go_back()
        desk.click("text=All citation formats")
        check_both("cite")

        # A capture that fails (from the desktop), retried from the phone once the site is back.
        desk.goto("/")
        check_both("home")
        desk.fill("#f-url", FLAKY)
        desk.click("form.archive button")
        desk.wait_for_url("**/ui/sources/*")
        _wait_finished(desk)
        check_both("failed")
        assert "Not archived" in phone.locator("[role=alert]").inner_text()
        assert phone.locator("#cite textarea").count() == 0  # nothing offered as archived
        web.add(FLAKY, "<html><head><title>Back online</title></head><body><p>The story.</p></body></html>")
        phone.click("text=Retry the capture")
        _wait_finished(phone)
        assert phone.locator("h1").inner_text() == "Back online"
        assert phone.locator("#cite-markdown").count() == 1

        desk.goto(f"/ui/search?url={news.article}")
        check_both("search")
        desk.goto("/ui/sources/999")
        check_both("error")
        assert phone.locator("[role=alert]").inner_text() == "no source with id 999"
        desk.goto("/docs")
        desk.wait_for_selector(".swagger-ui .info", timeout=15_000)  # offline: assets from our origin

        # Log out: the session is gone, the start page asks for the login again.
        for name, page in (("desktop", desk), ("phone", phone)):
            page.goto("/")
            page.click("form.logout button")
            page.wait_for_url("**/ui/login")
            assert not [c for c in contexts[name].cookies() if c["name"] == "citevault_session"]
            page.goto("/")
            assert "/ui/login" in page.url
    finally:
        for ctx in contexts.values():
            ctx.close()
    pages = ["login", "home-empty", "source", "report", "cite", "home", "failed", "search", "error"]
    assert checks["desktop"].seen == pages
    assert [p for p in checks["phone"].seen if p != "progress"] == pages


def test_axe_is_vendored() -> None:
    """axe-core sits beside the tests with its licence (npm package axe-core)."""
    if not AXE.exists():
        pytest.skip("axe.min.js is not vendored: run `npm pack axe-core@4` (see tests/web/vendor/README.md)")
    assert (AXE.parent / "axe-core.LICENSE").read_text().startswith("Mozilla Public License")
