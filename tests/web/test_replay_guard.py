"""The frame guard's place in rewritten replay, without a browser: first script of every rewritten
page and srcdoc document, told the archive's prefix, timestamp and the page's URL; served from our
own origin; never in the as-seen view. What it does in a browser: test_replay_guard_browser.py."""

from __future__ import annotations

from pathlib import Path

import lxml.html
from fastapi.testclient import TestClient

from citevault.config import Settings
from citevault.replay import CSP, GUARDED_CSP, Rewriter
from citevault.web import create_app

GUARD = "/ui/static/replay-guard.js"
TS = "20210101000000"


def _rewrite(html: str, guard: str | None = GUARD) -> lxml.html.HtmlElement:
    out = Rewriter("/web/", TS, "https://site.test/dir/page", guard).html(html.encode(), "utf-8", None)
    return lxml.html.document_fromstring(out)


def test_guard_is_the_first_script_of_a_rewritten_page() -> None:
    doc = _rewrite('<!DOCTYPE html><html><head><base href="/other/"><script src="a.js"></script>'
                   "</head><body><script>document.write('x')</script></body></html>")
    first = doc.find("head")[0]
    assert first.tag == "script" and first.get("src") == GUARD
    assert first.get("data-prefix") == "/web/" and first.get("data-ts") == TS
    assert first.get("data-url") == "https://site.test/other/"  # the page's base, as archived
    assert [s.get("src") for s in doc.iter("script")][1] == f"/web/{TS}js_/https://site.test/other/a.js"


def test_guard_in_a_page_without_head_and_in_srcdoc_documents() -> None:
    doc = _rewrite('<p>x</p><iframe srcdoc="<p>in</p><iframe src=https://ads.test/f></iframe>"></iframe>')
    assert doc.find("head")[0].get("src") == GUARD
    inner = lxml.html.document_fromstring(doc.find(".//iframe").get("srcdoc"))
    assert inner.find("head")[0].get("src") == GUARD
    assert inner.find(".//iframe").get("src") == f"/web/{TS}if_/https://ads.test/f"


def test_no_guard_unless_asked() -> None:  # the as-seen view runs no script at all
    assert _rewrite("<p>x</p>", guard=None).xpath("//script") == []


def test_guard_csp_adds_trusted_types_to_the_replay_csp() -> None:
    assert GUARDED_CSP.startswith(CSP + ";") and "require-trusted-types-for 'script'" in GUARDED_CSP
    assert "allow-same-origin" not in GUARDED_CSP  # the replay keeps its opaque origin


def test_guard_is_served_from_our_origin(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(home=tmp_path))) as client:
        r = client.get(GUARD)
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    assert "trustedTypes" in r.text and "wombat" in r.text  # says why it is not wombat
