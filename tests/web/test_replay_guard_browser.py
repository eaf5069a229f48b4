"""The replay frame guard (web/static/replay-guard.js) in Chromium: frames that archived scripts
create at run time, by property, setAttribute, HTML strings, document.write, srcdoc or a child
window, load the archived copy and open no connection to the live web (a black-hole proxy logs
any); a page's own script that sends its window to the live web (location rewritten by
jsrewrite.py and the guard) lands on the archived copy, and reads the archived URL from
`location`. One archive, one service and one browser for the whole module."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from citevault.archive import Archive
from citevault.config import Settings
from citevault.storage.models import Capture
from tests.app.test_service_e2e import Served
from tests.fakeweb import FakeWeb
from tests.web.test_replay_browser import CHROMIUM, CHROMIUM_ARGS, _need_browser, live_requests, screenshot

pytestmark = pytest.mark.slow

AD = "https://frames.test/ad"  # archived: a frame pointing at it must show this copy
AD_TEXT = "archived ad"
LIVE_ONLY = "https://dyn.ads.test/x"  # never archived: its frame gets the blank placeholder


NAV_JS = "https://guard.test/nav.js"  # an archived external script that leaves for the live web
TARGET = "https://guard.test/target"  # archived: where a relative navigation must land
TARGET_TEXT = "archived target"
LIBRARY_JS = "https://guard.test/axe.min.js"  # a real 650 KB minified library (axe-core), archived
LIBRARY = Path(__file__).parent / "vendor" / "axe.min.js"


def _page(script: str, body: str = "") -> str:
    return f'<!DOCTYPE html><title>t</title><p>page</p>{body}<div id="slot"></div><script>{script}' \
        'document.title = "ran";</script>'


PAGES = {
    "property": f'var f = document.createElement("iframe"); f.src = "{AD}"; document.body.appendChild(f);',
    "setattribute": f'var f = document.createElement("iframe"); f.setAttribute("src", "{AD}");'
                    "document.body.appendChild(f);",
    "innerhtml": f"document.getElementById('slot').innerHTML = '<iframe src=\"{AD}\"></iframe>';",
    "adjacent": f"document.getElementById('slot').insertAdjacentHTML('beforeend', "
                f"'<iframe src=\"{AD}\"></iframe>');",
    "write": f"document.write('<iframe src=\"{AD}\"></iframe>');",
    "srcdoc": f'var f = document.createElement("iframe"); f.srcdoc = \'<p>inner</p><iframe src="{AD}">'
              "</iframe>'; document.body.appendChild(f);",
    "object": f'var o = document.createElement("object"); o.data = "{AD}"; document.body.appendChild(o);',
    "unarchived": f'var f = document.createElement("iframe"); f.src = "{LIVE_ONLY}";'
                  "document.body.appendChild(f);",
    "childlocation": 'var f = document.createElement("iframe"); document.body.appendChild(f);'
                     f'f.contentWindow.location.href = "{AD}";',
    "childassign": 'var f = document.createElement("iframe"); document.body.appendChild(f);'
                   f'f.contentWindow.location = "{AD}";',
    "open": 'var f = document.createElement("iframe"); f.name = "slot"; document.body.appendChild(f);'
            f'window.open("{AD}", "slot");',
    # The page's own script leaves for the live web: it lands on the archived copy instead.
    "selflocation": f'setTimeout(function () {{ location.href = "{AD}"; }}, 0);',
    "assign": f'location.assign("{AD}");',
    "replace": f'location.replace("{AD}");',
    "windowlocation": f'window.location = "{AD}";',
    "documentlocation": f'document.location.href = "{AD}";',
    "toplocation": f'top.location.href = "{AD}";',
    "strict": f'"use strict"; setTimeout(function () {{ location = "{AD}"; }}, 0);',
    "module": "",  # the navigation is in a module script (strict, deferred), in BODIES below
    "timeoutstring": f"setTimeout(\"location.href = '{AD}'\", 0);",
    # Chromium refuses eval code that the Trusted Types default policy changed: no navigation at all.
    "eval": f"try {{ eval(\"location.replace('{AD}')\"); }} catch (e) {{ "
            'document.getElementById("slot").textContent = e.name; }',
    "function": f"new Function(\"u\", \"location.replace(u)\")(\"{AD}\");",
    # Eval code naming the window but not its location is not changed by the policy, so it runs.
    "evalwindow": "document.getElementById(\"slot\").textContent ="
                  " eval(\"typeof window + ' ' + (self === this)\");",
    "external": "",  # the navigation is in NAV_JS, loaded by BODIES below
    "onclick": "",  # the navigation is in an onclick handler the test clicks
    # A javascript: URL a script sets at run time: the guard's createScript rewrites it when followed.
    "jsurl": f"document.getElementById(\"go\").href = \"javascript:location.href = '{AD}'\";",
    # The window an event hands out: a click's view.
    "eventview": f'document.addEventListener("click", function (e) {{ e.view.location.href = "{AD}"; }});',
    "relative": 'location.assign("/target");',  # resolved against the archived page's URL
    # The window reached under another name, or its location by a computed name (issue 10).
    "alias": f'(function (w) {{ w.location.href = "{AD}"; }})(window);',  # minified code's shape
    "varalias": f'var w = window; w.location = "{AD}";',
    "selfalias": f'var g = self; setTimeout(function () {{ g["location"].assign("{AD}"); }}, 0);',
    "computed": f'window["loc" + "ation"] = "{AD}";',
    "destructure": f'const {{location: l}} = window; l.href = "{AD}";',
    "thislocation": f'this.location = "{AD}";',  # `this` is the window at a classic script's top
    "umd": f'(function (root) {{ root.location.replace("{AD}"); }})(this);',
    # Navigations that are not a location write: a link, a form, window.open to the window itself.
    "anchortop": f'var a = document.createElement("a"); a.href = "{AD}"; a.target = "_top";'
                 "document.body.appendChild(a); a.click();",
    "anchorhtml": f"document.getElementById('slot').innerHTML = '<a id=\"go\" href=\"{AD}\">go</a>';"
                  'document.getElementById("go").click();',
    "form": f'var f = document.createElement("form"); f.action = "{AD}"; f.method = "get";'
            "document.body.appendChild(f); f.submit();",
    "openself": f'window.open("{AD}", "_self");',
    "opentop": f'window.open("{AD}", "_top");',
    # A popup is refused by the sandbox (no allow-popups): window.open gives null, nothing loads.
    "popup": f'document.getElementById("slot").textContent = String(window.open("{AD}"));',
    # Scripts keep working with their window renamed: top-level declarations seen by the next
    # script, strict mode, window methods and identities through the proxy (run in BODIES below).
    "scope": "",
    # A real minified library, rewritten on its way out of the archive, still runs.
    "library": "axe.run(document, {runOnly: ['region']}).then(function (r) {"
               " document.getElementById('slot').textContent ="
               " 'axe ' + axe.version + ' ' + typeof r.passes; });",
    # What a script reads from location is the archived page's URL, not the replay's.
    "reading": 'document.getElementById("slot").textContent = [location.host, location.pathname, '
               "window.location.href, document.location.origin, String(self.location)].join(' ');",
}
BODIES = {
    "external": f'<script src="{NAV_JS}"></script>',
    "onclick": f"<a id=\"go\" href=\"#\" onclick=\"location.href = '{AD}'; return false\">go</a>",
    "jsurl": '<a id="go">go</a>',
    "eventview": '<a id="go">go</a>',
    "module": f'<script type="module">window.location.href = "{AD}";</script>',
    "library": f'<script src="{LIBRARY_JS}"></script>',
    "scope": '<script>"use strict"; const shared = 1; let counter = 2; class Shape {}\n'
             "var strict = (function () { return this === undefined; })();</script>"
             "<script>var w = window, out = [shared, counter, typeof Shape, strict, w === self, w === top,"
             " document.defaultView === window, w instanceof Window, 'location' in w, typeof w.setTimeout,"
             " (function () { return this === window; })()];"
             " w.setTimeout(function () { out.push('timer'); document.getElementById('slot').textContent ="
             " out.join(' '); }, 0);</script>",
}


class Replays:
    def __init__(self, svc: Served, urls: dict[str, str], hole: FakeWeb, page: Any) -> None:
        self.svc, self.urls, self.hole, self.page = svc, urls, hole, page
        self.console: list[str] = []  # what the page logged: shown when a test fails
        page.on("console", lambda m: self.console.append(m.text))
        page.on("pageerror", lambda e: self.console.append(f"uncaught: {e}"))

    def open(self, name: str) -> Any:
        """Open one replayed page, wait for its script to finish and the network to settle."""
        self.goto(name)
        try:
            self.page.wait_for_function("document.title === 'ran'", timeout=15_000)
        except Exception:
            pytest.fail(f"the page's script did not finish: {self.console}")
        self.page.wait_for_load_state("networkidle")
        return self.page

    def goto(self, name: str, wait_until: str = "load") -> Any:
        self.hole.clear_requests()
        self.console.clear()
        self.page.goto(f"http://127.0.0.1:{self.svc.port}/web/{self.urls[name]}", wait_until=wait_until)
        return self.page

    def landed(self, url: str, text: str, query: str = "") -> Any:
        """Wait until the window shows the archived copy of url (its /web/ address at its own
        capture's timestamp, after the archive's redirect) with its text; query: a pattern of what
        a GET form may add to the URL."""
        page = self.page
        try:
            page.wait_for_url(re.compile(rf"/web/\d{{14}}/{re.escape(url)}{query}$"), timeout=15_000)
        except Exception:
            pytest.fail(f"the window is at {page.url}, not the archived {url}: {self.console}")
        page.wait_for_load_state("networkidle")
        assert text in page.inner_text("body")
        return page


def _archive(tmp: Path) -> dict[str, str]:
    """Capture AD and every page of PAGES through a fake web: {name: "timestamp/url"}."""
    with FakeWeb() as web, pytest.MonkeyPatch.context() as mp:
        for var in [v for v in os.environ if v.startswith("CITEVAULT_") or v.lower().endswith("_proxy")]:
            mp.delenv(var)
        mp.setenv("CITEVAULT_HOME", str(tmp / "home"))
        mp.setenv("CITEVAULT_BROWSER", "never")
        mp.setenv("CITEVAULT_ALLOW_PRIVATE_NETWORKS", "1")
        for k, v in web.proxy_env().items():
            mp.setenv(k, v)
        web.add(AD, f'<!DOCTYPE html><title>ad</title><p id="ad">{AD_TEXT}</p>')
        web.add(TARGET, f"<!DOCTYPE html><title>target</title><p>{TARGET_TEXT}</p>")
        web.add(NAV_JS, f'setTimeout(function () {{ location.href = "{AD}"; }}, 0);',
                content_type="application/javascript")
        web.add(LIBRARY_JS, LIBRARY.read_bytes(), content_type="application/javascript")
        urls = {name: f"https://guard.test/{name}" for name in PAGES}
        for name, script in PAGES.items():
            web.add(urls[name], _page(script, BODIES.get(name, "")))
        archive = Archive(Settings())
        try:
            seeds = [AD, TARGET, NAV_JS, LIBRARY_JS, *urls.values()]
            assert archive.capture(archive.queue(seeds, depth=0)) == 0
            with archive.index.session() as s:
                stamps = {url: ts for url, ts in s.execute(select(Capture.url, Capture.timestamp))}
        finally:
            archive.close()
    return {name: f"{stamps[url]}/{url}" for name, url in urls.items()}


@pytest.fixture(scope="module")
def replays(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replays]:
    _need_browser()
    from playwright.sync_api import sync_playwright

    tmp = tmp_path_factory.mktemp("guard")
    urls = _archive(tmp)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CITEVAULT_") and not k.lower().endswith("_proxy")}
    svc = Served(tmp, CITEVAULT_WORKERS="0")
    svc.env = {**env, "CITEVAULT_HOME": str(tmp / "home"), "CITEVAULT_WORKERS": "0"}
    svc.start()
    try:
        with FakeWeb() as hole, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                        proxy={"server": hole.proxy_url, "bypass": "127.0.0.1,localhost"})
            try:
                page = browser.new_context(viewport={"width": 1000, "height": 700}).new_page()
                yield Replays(svc, urls, hole, page)
            finally:
                browser.close()
    finally:
        svc.close()


def archived_frame(page: Any, text: str = AD_TEXT, timeout: float = 30.0) -> Any:
    """The frame (at any depth) that shows the archived copy of AD, once it has loaded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for frame in page.frames:
            if f"if_/{AD}" in frame.url:
                try:
                    if text in frame.inner_text("body", timeout=1000):
                        return frame
                except Exception:  # still loading, or replaced by the redirect's target
                    pass
        page.wait_for_timeout(50)
    pytest.fail(f"no frame shows the archived {AD}: {[f.url for f in page.frames]}")


@pytest.mark.parametrize("name", ["property", "setattribute", "innerhtml", "adjacent", "write", "srcdoc",
                                  "object", "childlocation", "childassign", "open"])
def test_script_made_frame_shows_the_archived_copy(replays: Replays, name: str) -> None:
    page = replays.open(name)
    archived_frame(page)
    screenshot(page, f"guard-{name}")
    assert live_requests(replays.hole) == []


def test_script_created_frame_stays_in_the_archive(replays: Replays) -> None:
    """A frame whose URL was never archived: the blank placeholder, no connection to its host."""
    page = replays.open("unarchived")
    placeholder = f"if_/{LIVE_ONLY}"
    for _ in range(600):
        if any(placeholder in f.url for f in page.frames):
            break
        page.wait_for_timeout(50)
    assert any(placeholder in f.url for f in page.frames), [f.url for f in page.frames]
    assert live_requests(replays.hole) == []


# Each: the page's own script sends its window to the live web, by one way of reaching `location`.
NAVIGATIONS = ["selflocation", "assign", "replace", "windowlocation", "documentlocation", "toplocation",
               "strict", "module", "timeoutstring", "function", "external", "alias", "varalias",
               "selfalias", "computed", "destructure", "thislocation", "umd", "anchortop", "anchorhtml",
               "form", "openself", "opentop"]


@pytest.mark.parametrize("name", NAVIGATIONS)
def test_page_script_navigating_away_lands_in_the_archive(replays: Replays, name: str) -> None:
    replays.goto(name, wait_until="commit")  # the page leaves while it loads
    # A GET form adds its (empty) query; the archive may redirect it to the capture without it.
    replays.landed(AD, AD_TEXT, r"\??" if name == "form" else "")
    assert live_requests(replays.hole) == []


def test_eval_code_navigating_away_is_refused(replays: Replays) -> None:
    """Chromium refuses direct eval code that the guard's Trusted Types policy rewrote."""
    page = replays.open("eval")
    assert page.inner_text("#slot") == "EvalError"
    assert page.url.endswith("/https://guard.test/eval")
    assert live_requests(replays.hole) == []


def test_eval_code_naming_only_the_window_runs(replays: Replays) -> None:
    page = replays.open("evalwindow")
    assert page.inner_text("#slot") == "object true"
    assert live_requests(replays.hole) == []


@pytest.mark.parametrize("name", ["onclick", "jsurl", "eventview"])
def test_clicked_navigation_away_lands_in_the_archive(replays: Replays, name: str) -> None:
    page = replays.open(name)
    page.click("#go")
    replays.landed(AD, AD_TEXT)
    assert live_requests(replays.hole) == []


def test_popup_to_the_live_web_is_refused(replays: Replays) -> None:
    page = replays.open("popup")
    assert page.inner_text("#slot") == "null"
    assert len(page.context.pages) == 1
    assert live_requests(replays.hole) == []


def test_relative_navigation_resolves_against_the_archived_url(replays: Replays) -> None:
    replays.goto("relative", wait_until="commit")
    replays.landed(TARGET, TARGET_TEXT)
    assert live_requests(replays.hole) == []


def test_scripts_keep_their_scope_strict_mode_and_window(replays: Replays) -> None:
    """Renaming, not wrapping: a classic script's top-level const/let/class are seen by the next
    script, "use strict" holds, the window's methods work and compare equal through the proxy."""
    page = replays.open("scope")
    page.wait_for_function("document.getElementById('slot').textContent !== ''")
    assert page.inner_text("#slot") == "1 2 function true true true true true true function true timer"
    assert live_requests(replays.hole) == []


def test_a_real_minified_library_runs_rewritten(replays: Replays) -> None:
    """axe-core (650 KB, minified; its `window`, `self`, `this` and `location` renamed) loads from
    the archive and runs."""
    page = replays.open("library")
    page.wait_for_function("document.getElementById('slot').textContent !== ''", timeout=30_000)
    assert re.fullmatch(r"axe \d+\.\d+\.\d+ object", page.inner_text("#slot")), replays.console
    assert live_requests(replays.hole) == []


def test_scripts_read_the_archived_url_from_location(replays: Replays) -> None:
    page = replays.open("reading")
    url = "https://guard.test/reading"
    assert page.inner_text("#slot") == f"guard.test /reading {url} https://guard.test {url}"
    assert live_requests(replays.hole) == []
