"""What a replayed record may make a browser do, and what one replay may cost: active documents
served raw to a navigation are shown as source, srcdoc frames and pings rewritten or dropped,
pages too big to rewrite served raw, oversized archived headers left out, archived errors said."""

from __future__ import annotations

import gzip

import lxml.html
import pytest
from warcio.statusandheaders import StatusAndHeaders

from citevault import replay
from citevault.replay import render_memento
from citevault.storage.models import Capture
from citevault.storage.warcreader import ArchivedPayload

URL = "https://site.test/page"
TS = "20261103120000"
AD_PAGE = (b'<!DOCTYPE html><html><head><link rel="stylesheet" href="https://cdn.ads.test/a.css">'
           b'</head><body><iframe src="https://ads.test/serve"></iframe>'
           b'<iframe srcdoc="&lt;img src=&quot;https://ads.test/pixel.gif&quot;&gt;"></iframe>'
           b'<a href="/x" ping="https://track.test/ping" target="_blank">x</a></body></html>')


def _record(body: bytes, *, status: str = "200 OK", headers: list[tuple[str, str]] | None = None,
            ) -> tuple[Capture, ArchivedPayload]:
    head = StatusAndHeaders(status, headers or [("Content-Type", "text/html; charset=utf-8")],
                            protocol="HTTP/1.1")
    cap = Capture(url=URL, surt="test,site)/page", timestamp=TS, status=int(status.split()[0]),
                  mime="text/html", role="seed")
    rec = ArchivedPayload("response", URL, "2026-11-03T12:00:00Z", head, body,
                          StatusAndHeaders("", [], protocol="WARC/1.1"))
    return cap, rec


def _header(out: replay.Replayed, name: str) -> str | None:
    return next((v for k, v in out.headers if k.lower() == name.lower()), None)


def test_raw_html_to_a_browser_navigation_is_shown_as_its_source() -> None:
    cap, rec = _record(AD_PAGE)
    out = render_memento(cap, rec, modifier="id_", prefix="/web/", navigation=True)
    assert out.body == AD_PAGE  # the archived bytes, unchanged
    assert _header(out, "Content-Type") == "text/plain; charset=utf-8"
    assert _header(out, "X-Content-Type-Options") == "nosniff"
    assert _header(out, "X-Archive-Orig-Content-Type") == "text/html; charset=utf-8"
    # A script or tool fetching the raw bytes (no navigation) gets them with their own type.
    out = render_memento(cap, rec, modifier="id_", prefix="/web/")
    assert out.body == AD_PAGE and _header(out, "Content-Type") == "text/html; charset=utf-8"


def test_raw_gzip_html_keeps_its_coding_when_shown_as_source() -> None:
    cap, rec = _record(gzip.compress(AD_PAGE, mtime=0), headers=[
        ("Content-Type", "text/html"), ("Content-Encoding", "gzip")])
    out = render_memento(cap, rec, modifier="id_", prefix="/web/", navigation=True)
    assert gzip.decompress(out.body) == AD_PAGE
    assert _header(out, "Content-Encoding") == "gzip"
    assert (_header(out, "Content-Type") or "").startswith("text/plain")


def test_rewritten_page_has_no_way_out() -> None:
    cap, rec = _record(AD_PAGE)
    out = render_memento(cap, rec, modifier="", prefix="/web/", navigation=True)
    doc = lxml.html.document_fromstring(out.body)
    frames = doc.xpath("//iframe")
    assert frames[0].get("src") == f"/web/{TS}if_/https://ads.test/serve"
    inner = lxml.html.document_fromstring(frames[1].get("srcdoc"))
    assert inner.xpath("//img/@src") == [f"/web/{TS}im_/https://ads.test/pixel.gif"]
    assert doc.xpath("//a/@ping") == [] and doc.xpath("//a/@target") == []
    assert doc.xpath("//link/@href") == [f"/web/{TS}cs_/https://cdn.ads.test/a.css"]


def test_pages_above_the_rewrite_limit_are_served_raw(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replay, "REWRITE_LIMIT", len(AD_PAGE) - 1)
    cap, rec = _record(AD_PAGE)
    out = render_memento(cap, rec, modifier="", prefix="/web/", navigation=True)
    assert out.body == AD_PAGE and (_header(out, "Content-Type") or "").startswith("text/plain")
    monkeypatch.setattr(replay, "REWRITE_LIMIT", len(AD_PAGE))
    out = render_memento(cap, rec, modifier="", prefix="/web/", navigation=True)
    assert b"citevault-banner" in out.body


def test_oversized_archived_headers_are_left_out() -> None:
    huge = [(f"X-Junk-{i}", "v" * 1000) for i in range(100)] + [("X-Giant", "g" * 20_000)]
    cap, rec = _record(b"<p>hi</p>", headers=[("Content-Type", "text/html"), *huge])
    out = render_memento(cap, rec, modifier="id_", prefix="/web/")
    size = sum(len(k) + len(v) + 4 for k, v in out.headers)
    assert size <= replay.HEADER_LIMIT + 200
    assert _header(out, "X-Giant") is None
    kept = len(out.headers) - 1  # less the count of those left out
    assert int(_header(out, "X-Archive-Headers-Omitted") or 0) == 102 - kept > 60
    assert rec.http_headers is not None and len(rec.http_headers.headers) == 102  # the record keeps them


def test_archived_errors_say_what_the_server_answered() -> None:
    cap, rec = _record(b"<h1>Gone</h1>", status="404 Not Found")
    out = render_memento(cap, rec, modifier="", prefix="/web/")
    assert out.status == 404
    banner = lxml.html.document_fromstring(out.body).get_element_by_id("citevault-banner")
    assert "the server answered 404 Not Found" in banner.text_content()
    cap, rec = _record(b"<h1>Fine</h1>")
    out = render_memento(cap, rec, modifier="", prefix="/web/")
    assert "server answered" not in out.body.decode()
