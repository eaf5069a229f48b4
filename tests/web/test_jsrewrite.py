"""Script rewriting for replay, without a browser: which `location` references become the guard's
`__cvLocation` and which are left alone (strings, comments, regular expressions, other objects'
properties, object keys), and where replay applies it: inline scripts, `on*` handlers and
`javascript:` URLs of rewritten pages, `js_` and JavaScript responses, never `id_` nor above the
rewrite limit. What the browser then does: test_replay_guard_browser.py."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
from pathlib import Path

import lxml.html
import pytest
from warcio.statusandheaders import StatusAndHeaders

from citevault import replay
from citevault.jsrewrite import rewrite_script
from citevault.replay import Rewriter, render_memento
from citevault.storage.models import Capture
from citevault.storage.warcreader import ArchivedPayload
from tests.conftest import IN_CI

TS = "20261103120000"
JS_URL = "https://site.test/app.js"


@pytest.mark.parametrize(("source", "expected"), [
    ('location.href = "https://live.test/"', '__cvLocation.href = "https://live.test/"'),
    ("location = u", "__cvLocation = u"),
    ("location.assign(u); location.replace(u)", "__cvLocation.assign(u); __cvLocation.replace(u)"),
    ("window.location = u", "__cvWindow.__cvLocation = u"),
    ("document.location.href = u", "document.__cvLocation.href = u"),
    ("top.location.href = u; parent.location = u",
     "__cvTop.__cvLocation.href = u; __cvParent.__cvLocation = u"),
    ("self.location; globalThis . location", "__cvSelf.__cvLocation; __cvGlobalThis . __cvLocation"),
    ("window?.location?.assign(u)", "__cvWindow?.__cvLocation?.assign(u)"),
    ("x = a ? location : b", "x = a ? __cvLocation : b"),
    ("function f(location) { return location.pathname }",
     "function f(__cvLocation) { return __cvLocation.pathname }"),  # renamed alike: scoping unchanged
    ("if(!location.hash)location.hash='#a'", "if(!__cvLocation.hash)__cvLocation.hash='#a'"),
    ("a = b / location.x / 2", "a = b / __cvLocation.x / 2"),  # division, not a regex
])
def test_the_windows_location_is_renamed(source: str, expected: str) -> None:
    assert rewrite_script(source) == expected


@pytest.mark.parametrize(("source", "expected"), [
    # The window under another name: the scripts' window is the guard's proxy (issue 10).
    ("(function (w) { w.location.href = u })(window)",
     "(function (w) { w.location.href = u })(__cvWindow)"),
    ('var w = self; w["loc" + "ation"] = u', 'var w = __cvSelf; w["loc" + "ation"] = u'),
    ("const {location: l} = window", "const {location: l} = __cvWindow"),
    ("var self = this; self.x()", "var __cvSelf = __cvThis(this); __cvSelf.x()"),  # renamed alike
    ("function f(window, top) { return window === top }",
     "function f(__cvWindow, __cvTop) { return __cvWindow === __cvTop }"),
    ("var g = typeof globalThis < 'u' ? globalThis : frames",
     "var g = typeof __cvGlobalThis < 'u' ? __cvGlobalThis : __cvFrames"),
    # `this` where it may be the window; `this.name` of other names is left as it is.
    ("this.location = u; this['location'] = u",
     "__cvThis(this).location = u; __cvThis(this)['location'] = u"),
    ("(function (root) { root.x = 1 })(this); return this",
     "(function (root) { root.x = 1 })(__cvThis(this)); return __cvThis(this)"),
    ("this.x = this.y", "this.x = this.y"),
    # A shorthand property or pattern keeps its key; a declaration list or call arguments are not one.
    ("o = {top, left}; const {self, b = 1} = r",
     "o = {top: __cvTop, left}; const {self: __cvSelf, b = 1} = r"),
    ("var a, top, b; f(a, top, b)", "var a, __cvTop, b; f(a, __cvTop, b)"),
    ("x = {...self}; f(...top)", "x = {...__cvSelf}; f(...__cvTop)"),
    ("switch (k) { case 1: { let a, top, b; } default: { const c = 1, self = c; } }",
     "switch (k) { case 1: { let a, __cvTop, b; } default: { const c = 1, __cvSelf = c; } }"),
    ("class A { parent = null; w = window; static t = a ? top : self }",
     "class A { parent = null; w = __cvWindow; static t = a ? __cvTop : __cvSelf }"),
])
def test_the_window_under_any_name_is_the_guarded_one(source: str, expected: str) -> None:
    assert rewrite_script(source) == expected


@pytest.mark.parametrize("source", [
    "o = {top: 1, parent: 2, this: 3}; r.top = el.parent.self; a.window; a.this",
    "class A { parent = null; top() { return 1 } static self = 2 }",  # class members
    "class B { #parent = 1; f() { return this.#parent ?? this.#top() } #top() {} }",  # private names
    "function top() {} top(); window(); self(1)",  # a call or a method is never the window's
    'msg = "your location"; other = \'location.href\'',
    "// location.href = u\n/* window.location = u */",
    "t = `location ${x}`",
    "ok = /location\\.href/.test(s); r = x.replace(/location/g, '')",
    "return /location/.source",
    "e.location; event.location = 1; win.location; geolocation; $location; location_1",
    "o = {location: 1, b: 2}; p = {a: 1, location: 2}",
    "class A { location() { return 1 } }",
    "var s = \"it's \\\" location\"",
])
def test_what_is_not_the_windows_location_is_left_alone(source: str) -> None:
    assert rewrite_script(source) == source


def test_rewriting_is_idempotent_and_keeps_strict_mode_and_modules() -> None:
    module = '"use strict";\nimport x from "./x.js";\nexport const here = location.pathname;\n'
    once = rewrite_script(module)
    assert once == '"use strict";\nimport x from "./x.js";\nexport const here = __cvLocation.pathname;\n'
    assert rewrite_script(once) == once  # the guard's createScript may see rewritten text again
    assert "with" not in once


def test_rewritten_page_scripts_handlers_and_javascript_urls() -> None:
    page = ('<!DOCTYPE html><html><head><script>location.href = "https://live.test/";</script>'
            '<script type="module">window.location.assign(u)</script>'
            '<script type="application/ld+json">{"location": "x"}</script>'
            '<script type="text/template"><p>location</p></script></head>'
            "<body onload=\"location.replace('https://live.test/')\">"
            "<a id=go href=\"javascript:location.href='https://live.test/'\" "
            "onclick=\"document.location = 'https://live.test/'\">go</a>"
            '<p title="location">location.href</p></body></html>')
    out = Rewriter("/web/", TS, "https://site.test/page").html(page.encode(), "utf-8", None)
    doc = lxml.html.document_fromstring(out)
    scripts = [s.text for s in doc.iter("script")]
    assert scripts == ['__cvLocation.href = "https://live.test/";', "__cvWindow.__cvLocation.assign(u)",
                       '{"location": "x"}', "<p>location</p>"]  # data blocks are not scripts
    assert doc.find("body").get("onload") == "__cvLocation.replace('https://live.test/')"
    go = doc.get_element_by_id("go")
    assert go.get("href") == "javascript:__cvLocation.href='https://live.test/'"
    assert go.get("onclick") == "document.__cvLocation = 'https://live.test/'"
    p = doc.find(".//p")
    assert p.get("title") == "location" and p.text == "location.href"  # text, not script


def _record(body: bytes, content_type: str, **extra: str) -> tuple[Capture, ArchivedPayload]:
    head = StatusAndHeaders("200 OK", [("Content-Type", content_type), *extra.items()], protocol="HTTP/1.1")
    cap = Capture(url=JS_URL, surt="test,site)/app.js", timestamp=TS, status=200, mime=content_type,
                  role="requisite")
    rec = ArchivedPayload("response", JS_URL, "2026-11-03T12:00:00Z", head, body,
                          StatusAndHeaders("", [], protocol="WARC/1.1"))
    return cap, rec


SCRIPT = b'if (top !== self) top.location = self.location; location.href = "https://live.test/";'
REWRITTEN = (b'if (__cvTop !== __cvSelf) __cvTop.__cvLocation = __cvSelf.__cvLocation; '
             b'__cvLocation.href = "https://live.test/";')


@pytest.mark.parametrize(("content_type", "modifier"), [
    ("application/javascript", "js_"), ("text/javascript; charset=utf-8", ""),
    ("application/x-javascript", "if_"), ("text/plain", "js_"),  # a mislabelled script asked for as one
])
def test_scripts_are_rewritten_wherever_a_browser_runs_them(content_type: str, modifier: str) -> None:
    cap, rec = _record(gzip.compress(SCRIPT), content_type, **{"Content-Encoding": "gzip"})
    out = render_memento(cap, rec, modifier=modifier, prefix="/web/")
    assert out.body == REWRITTEN
    headers = {k.lower(): v for k, v in out.headers}
    assert "content-encoding" not in headers and headers["content-type"] == content_type


@pytest.mark.parametrize(("content_type", "modifier"), [
    ("application/javascript", "id_"),  # the original payload, unchanged
    ("application/javascript", "im_"), ("text/plain", ""), ("image/png", "js_"),
])
def test_not_scripts_or_raw_modes_are_served_as_archived(content_type: str, modifier: str) -> None:
    cap, rec = _record(SCRIPT, content_type)
    assert render_memento(cap, rec, modifier=modifier, prefix="/web/").body == SCRIPT


def test_scripts_above_the_rewrite_limit_are_served_as_archived(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replay, "REWRITE_LIMIT", len(SCRIPT) - 1)
    cap, rec = _record(SCRIPT, "application/javascript")
    assert render_memento(cap, rec, modifier="js_", prefix="/web/").body == SCRIPT


def test_the_guards_port_has_the_same_rules() -> None:
    """replay-guard.js rewrites run-time strings with a port of these rules: same names, same
    owners, same regex/division heuristic (their outputs on real scripts were compared with node)."""
    from citevault import jsrewrite

    guard = (Path(replay.__file__).parent / "web" / "static" / "replay-guard.js").read_text()
    assert f'var GUARDED = "{jsrewrite.GUARDED_LOCATION}";' in guard
    assert f"(?:{jsrewrite._OWNERS})" in guard
    before = re.search(r'var BEFORE_REGEX = "([^"]+)";', guard)
    assert before and set(before.group(1)) == set(jsrewrite._BEFORE_REGEX)
    keywords = re.search(r"var REGEX_KEYWORD_RE = /\(\?:\^\|\[\^\\w\$\]\)\(\?:([a-z|]+)\)", guard)
    assert keywords and set(keywords.group(1).split("|")) == jsrewrite._REGEX_KEYWORDS



def test_the_guards_port_gives_the_same_output() -> None:
    """The guard's rewriteScript (run in node) and rewrite_script agree on every sample above."""
    node = shutil.which("node")
    if node is None:
        if IN_CI:
            pytest.fail("node is not installed (CI=true: the guard's JavaScript port must be checked)")
        pytest.skip("node is not installed")
    guard = (Path(replay.__file__).parent / "web" / "static" / "replay-guard.js").read_text()
    port = guard[guard.index("  // -- scripts:"):guard.index("  // -- the window's location")]
    samples = [SCRIPT.decode()]
    tests = (test_the_windows_location_is_renamed, test_the_window_under_any_name_is_the_guarded_one,
             test_what_is_not_the_windows_location_is_left_alone)
    for fn in tests:
        for mark in fn.pytestmark:  # type: ignore[attr-defined]
            samples += [case[0] if isinstance(case, tuple) else case for case in mark.args[1]]
    program = port + "process.stdout.write(JSON.stringify(JSON.parse(require('fs').readFileSync(0))" \
                     ".map(rewriteScript)));"
    out = subprocess.run([node, "-e", program], input=json.dumps(samples), capture_output=True, text=True,
                         check=True, timeout=60)
    assert len(samples) > 30
    assert json.loads(out.stdout) == [rewrite_script(s) for s in samples]
