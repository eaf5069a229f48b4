"""Replay through /web/: link rewriting of every kind, headers, CSP, banner, revisits, redirects,
raw (id_) payloads, the 404 page and bad timestamps."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import lxml.html
import pytest
from fastapi.testclient import TestClient

from citevault.archive import Archive
from citevault.config import Settings
from citevault.crawler.recorder import CaptureRecorder
from citevault.replay import CSP, GUARDED_CSP
from citevault.storage.warcstore import WarcStore
from citevault.web import create_app
from tests.web.test_cdx import record

TS = "20210101000000"
PAGE = "http://site.test/dir/page.html"
PAGE_HTML = b"""<!DOCTYPE html>
<html><head>
<meta http-equiv="refresh" content="300; url=/next.html">
<link rel="stylesheet" href="/css/a.css">
<link rel="icon" href="/favicon.ico">
<link rel="preload" as="font" href="/f.woff2">
<style>@import "b.css"; @import 'c.css'; body { background: url(bg.png) }</style>
<script src="app.js"></script>
</head><body>
<p id="sec"><a href="other.html?x=1&amp;y=2">other</a> <a href="#sec">anchor</a>
<a href="https://elsewhere.test/x">offsite</a> <a href="mailto:a@b.test">mail</a></p>
<img src="i.png" srcset="i-1x.png 1x, /abs/i-2x.png 2x" data-src="lazy.png">
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
<video poster="poster.jpg"><source src="v.mp4" type="video/mp4"></video>
<picture><source srcset="pic.webp" type="image/webp"><img src="pic.jpg"></picture>
<iframe src="https://embed.test/frame"></iframe>
<div style="background-image: url('div.png')">styled</div>
<form action="/search"><input type="image" src="go.png"></form>
<table background="tbg.gif"><tr><td>t</td></tr></table>
</body></html>
"""
PAGE_GZ = gzip.compress(PAGE_HTML, mtime=0)
CSS = b"""@import url("more.css");
@import 'quoted.css';
.a { background: url(../img/x.png) } .b { background: url("data:image/png;base64,AA") }
@font-face { src: url('/fonts/f.woff2') format("woff2") }
"""


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    home = tmp_path_factory.mktemp("replay")
    settings = Settings(home=home)
    archive = Archive(settings)
    snap = archive.queue([PAGE])[0].snapshot_id
    with WarcStore(Path(archive.warc_dir)) as store:
        rec = CaptureRecorder(archive.index, store)
        record(rec, snap, PAGE, TS, PAGE_GZ, headers=[
            ("Content-Type", "text/html"), ("Content-Encoding", "gzip"), ("Set-Cookie", "sid=secret"),
            ("Strict-Transport-Security", "max-age=31536000"), ("Content-Security-Policy", "default-src *"),
            ("ETag", '"v1"'), ("X-Custom", "kept")])
        record(rec, snap, "http://site.test/css/a.css", TS, CSS, headers=[("Content-Type", "text/css")],
               role="requisite")
        record(rec, snap, "http://site.test/dir/i.png", TS, b"\x89PNG-bytes",
               headers=[("Content-Type", "image/png")], role="requisite")
        record(rec, snap, "http://site.test/old", TS, b"", status=301,
               headers=[("Location", "/dir/page.html")], role="redirect")
        record(rec, snap, "http://site.test/same.txt", "20200101000000", b"same payload",
               headers=[("Content-Type", "text/plain")])
        record(rec, snap, "http://site.test/same.txt", "20210101000000", b"same payload",
               headers=[("Content-Type", "text/plain"), ("X-Visit", "second")])
        record(rec, snap, "http://site.test/search?q=a%20b&lang=en", TS, b"results for a b",
               headers=[("Content-Type", "text/plain")])
        record(rec, snap, "http://site.test/latin1.html", TS, "<p>caf\xe9</p>".encode("latin-1"),
               headers=[("Content-Type", "text/html; charset=iso-8859-1")])
        record(rec, snap, "http://site.test/odd.html", TS, b"\x00compressed?",
               headers=[("Content-Type", "text/html"), ("Content-Encoding", "x-unknown")])
        rec.record_failure(snap, "http://site.test/down", "connection refused", role="cited")
    with TestClient(create_app(settings, archive)) as c:
        yield c
    archive.close()


def web(client: TestClient, path: str) -> httpx.Response:
    return client.get(path, follow_redirects=False)


def page_doc(client: TestClient) -> lxml.html.HtmlElement:
    r = client.get(f"/web/{TS}/{PAGE}", follow_redirects=False)
    assert r.status_code == 200
    return lxml.html.document_fromstring(r.content)


def w(url: str, mod: str = "") -> str:
    return f"/web/{TS}{mod}/{url}"


def test_rewrites_every_link_kind(client: TestClient) -> None:
    doc = page_doc(client)

    def one(xp: str) -> Any:
        return doc.xpath(xp)[0]

    assert one("//link[@rel='stylesheet']").get("href") == w("http://site.test/css/a.css", "cs_")
    assert one("//link[@rel='icon']").get("href") == w("http://site.test/favicon.ico", "im_")
    assert one("//link[@rel='preload']").get("href") == w("http://site.test/f.woff2", "im_")
    assert one("//script[not(@data-citevault-guard)]").get("src") == w("http://site.test/dir/app.js", "js_")
    style = one("//style").text
    assert f'@import "{w("http://site.test/dir/b.css")}"' in style
    assert f"@import '{w('http://site.test/dir/c.css')}'" in style
    assert f"url({w('http://site.test/dir/bg.png')})" in style
    assert one("//meta[@http-equiv='refresh']").get("content") == f"300; url={w('http://site.test/next.html')}"
    links = [a.get("href") for a in doc.xpath("//p[@id='sec']/a")]
    assert links == [w("http://site.test/dir/other.html?x=1&y=2"), "#sec",
                     w("https://elsewhere.test/x"), "mailto:a@b.test"]
    img = doc.xpath("//img")[0]
    assert img.get("src") == w("http://site.test/dir/i.png", "im_")
    assert img.get("srcset") == (f"{w('http://site.test/dir/i-1x.png', 'im_')} 1x, "
                                 f"{w('http://site.test/abs/i-2x.png', 'im_')} 2x")
    assert img.get("data-src") == w("http://site.test/dir/lazy.png", "im_")
    assert doc.xpath("//img")[1].get("src").startswith("data:image/gif")
    assert one("//video").get("poster") == w("http://site.test/dir/poster.jpg", "im_")
    assert one("//video/source").get("src") == w("http://site.test/dir/v.mp4", "im_")
    assert one("//source[@type='image/webp']").get("srcset") == w("http://site.test/dir/pic.webp", "im_")
    assert one("//img[contains(@src, 'pic.jpg')]").get("src") == w("http://site.test/dir/pic.jpg", "im_")
    assert one("//iframe").get("src") == w("https://embed.test/frame", "if_")
    assert one("//div[text()='styled']").get("style") == f"background-image: url('{w('http://site.test/dir/div.png')}')"
    assert one("//form").get("action") == w("http://site.test/search")
    assert one("//input").get("src") == w("http://site.test/dir/go.png", "im_")
    assert one("//table").get("background") == w("http://site.test/dir/tbg.gif")


def test_base_href_is_applied_and_removed() -> None:
    from citevault.replay import Rewriter

    html = b'<html><head><base href="http://cdn.test/assets/"></head><body><img src="x.png"></body></html>'
    out = lxml.html.document_fromstring(Rewriter("/web/", TS, "http://site.test/p").html(html, "utf-8", None))
    assert out.xpath("//base") == []
    assert out.xpath("//img")[0].get("src") == w("http://cdn.test/assets/x.png", "im_")


def test_css_file_rewritten(client: TestClient) -> None:
    for path in (w("http://site.test/css/a.css", "cs_"), w("http://site.test/css/a.css")):
        r = web(client, path)
        assert r.status_code == 200 and r.headers["content-type"] == "text/css"
        css = r.text
        assert f'@import url("{w("http://site.test/css/more.css")}")' in css
        assert f"@import '{w('http://site.test/css/quoted.css')}'" in css
        assert f"url({w('http://site.test/img/x.png')})" in css
        assert 'url("data:image/png;base64,AA")' in css
        assert f"url('{w('http://site.test/fonts/f.woff2')}') format(\"woff2\")" in css


def test_headers_csp_and_banner(client: TestClient) -> None:
    r = web(client, w(PAGE))
    assert r.headers["content-security-policy"] == GUARDED_CSP  # CSP and Trusted Types for the guard
    assert "sandbox allow-scripts" in CSP and "allow-same-origin" not in CSP
    assert "default-src 'self'" in CSP
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    # What would act on the client is renamed; the rewritten body has no content coding.
    assert "set-cookie" not in r.headers and r.headers["x-archive-orig-set-cookie"] == "sid=secret"
    assert "strict-transport-security" not in r.headers
    assert r.headers["x-archive-orig-content-security-policy"] == "default-src *"
    assert "content-encoding" not in r.headers and r.headers["x-archive-orig-content-encoding"] == "gzip"
    assert r.headers["x-archive-orig-etag"] == '"v1"'
    banner = lxml.html.document_fromstring(r.content).get_element_by_id("citevault-banner")
    text = banner.text_content()
    assert "Archived copy" in text and "2021-01-01 00:00:00 UTC" in text
    hrefs = [a.get("href") for a in banner.iter("a")]
    assert hrefs == [PAGE, f"/web/*/{PAGE}"]
    # Frames get no banner.
    framed = lxml.html.document_fromstring(web(client, w(PAGE, "if_")).content)
    assert framed.xpath("//*[@id='citevault-banner']") == []


def test_id_serves_original_payload_and_headers(client: TestClient) -> None:
    with client.stream("GET", w(PAGE, "id_")) as r:
        raw = b"".join(r.iter_raw())
        assert r.status_code == 200
        assert raw == PAGE_GZ  # the archived bytes, gzip and all
        assert r.headers["content-encoding"] == "gzip" and r.headers["content-type"] == "text/html"
        assert r.headers["etag"] == '"v1"' and r.headers["x-custom"] == "kept"
        assert "set-cookie" not in r.headers and r.headers["x-archive-orig-set-cookie"] == "sid=secret"
        assert r.headers["x-archive-orig-strict-transport-security"] == "max-age=31536000"
        assert r.headers["content-security-policy"] == CSP
        assert r.headers["content-length"] == str(len(raw))
    assert web(client, w(PAGE, "id_")).content == PAGE_HTML  # the client decodes
    assert b"citevault-banner" not in PAGE_HTML
    img = web(client, w("http://site.test/dir/i.png", "im_"))
    assert img.content == b"\x89PNG-bytes" and img.headers["content-type"] == "image/png"


def test_redirects_to_exact_timestamp(client: TestClient) -> None:
    for ts in ("2021", "202101", "20201231", "20210101000001"):
        r = web(client, f"/web/{ts}/{PAGE}")
        assert r.status_code == 302 and r.headers["location"] == w(PAGE), ts
    r = web(client, f"/web/2021id_/{PAGE}")
    assert r.status_code == 302 and r.headers["location"] == w(PAGE, "id_")
    # No timestamp: the newest capture.
    r = web(client, f"/web/{PAGE}")
    assert r.status_code == 302 and r.headers["location"] == w(PAGE)
    # Scheme and www are SURT-equal: the redirect names the archived URL.
    r = web(client, "/web/2021/https://site.test/dir/page.html")
    assert r.headers["location"] == w(PAGE)


def test_archived_redirect_points_into_archive(client: TestClient) -> None:
    r = web(client, w("http://site.test/old"))
    assert r.status_code == 301
    assert r.headers["location"] == w(PAGE)
    assert r.headers["x-archive-orig-location"] == "/dir/page.html"


def test_query_string_of_archived_url_is_kept(client: TestClient) -> None:
    r = web(client, w("http://site.test/search?q=a%20b&lang=en"))
    assert r.status_code == 200 and r.text == "results for a b"
    assert web(client, w("http://site.test/search?q=other")).status_code == 404


def test_revisit_resolves_to_original_payload(client: TestClient) -> None:
    r = web(client, "/web/20210101000000/http://site.test/same.txt")
    assert r.status_code == 200 and r.text == "same payload"
    assert r.headers["memento-datetime"] == "Fri, 01 Jan 2021 00:00:00 GMT"
    assert r.headers["x-visit"] == "second"  # the revisit's own headers


def test_charset_is_decoded(client: TestClient) -> None:
    r = web(client, w("http://site.test/latin1.html"))
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert "café" in r.content.decode("utf-8")


def test_undecodable_content_coding_is_served_as_archived(client: TestClient) -> None:
    with client.stream("GET", w("http://site.test/odd.html")) as r:
        assert b"".join(r.iter_raw()) == b"\x00compressed?"
        assert r.headers["content-encoding"] == "x-unknown"


def test_unknown_url_gives_404_page_with_nearest(client: TestClient) -> None:
    r = web(client, "/web/2021/http://site.test/dir/nothing.html")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    doc = lxml.html.document_fromstring(r.content)
    assert "Not in the archive" in doc.findtext(".//h1")
    hrefs = [a.get("href") for a in doc.xpath("//ul//a")]
    assert w(PAGE) in hrefs and w("http://site.test/css/a.css") in hrefs
    # A URL whose fetches all failed says why.
    down = web(client, "/web/2021/http://site.test/down")
    assert down.status_code == 404 and "connection refused" in down.text
    # Nothing at all nearby still gives the page.
    assert web(client, "/web/2021/http://zzz.test/").status_code == 404


def test_capture_list(client: TestClient) -> None:
    r = web(client, "/web/*/http://site.test/same.txt")
    assert r.status_code == 200
    hrefs = [a.get("href") for a in lxml.html.document_fromstring(r.content).xpath("//li/a")]
    assert hrefs == ["/web/20200101000000/http://site.test/same.txt",
                     "/web/20210101000000/http://site.test/same.txt"]


@pytest.mark.parametrize("segment", ["2021x", "20211340", "20210231", "abc", "2021zz_", "123456789012345"])
def test_bad_timestamps_are_400(client: TestClient, segment: str) -> None:
    r = web(client, f"/web/{segment}/{PAGE}")
    assert r.status_code == 400, segment
    assert "error" in r.json()


def test_unsupported_url_is_400(client: TestClient) -> None:
    assert web(client, f"/web/{TS}/ftp://site.test/file").status_code == 400
