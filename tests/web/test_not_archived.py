"""The replay of URLs the archive lacks, and what a browser navigation gets: a styled page that
links back, with close captures; a blank placeholder inside frames; raw pages as source."""

from __future__ import annotations

import lxml.html
from fastapi.testclient import TestClient

from tests.web.test_replay import PAGE, TS, client  # noqa: F401  (the archive fixture)


def test_not_archived_page_links_back_and_lists_close_captures(client: TestClient) -> None:  # noqa: F811
    r = client.get("/web/2021/http://site.test/dir/nothing.html", follow_redirects=False,
                   headers={"Referer": f"http://testserver/web/{TS}/{PAGE}", "Sec-Fetch-Dest": "document"})
    assert r.status_code == 404
    doc = lxml.html.document_fromstring(r.content)
    assert doc.findtext(".//h1") == "Not in the archive"
    assert doc.xpath("//link[@rel='stylesheet']/@href") == ["/ui/static/style.css"]  # styled
    hrefs = doc.xpath("//main//a/@href")
    assert "/" in hrefs and any(h.startswith("/ui/sources/") for h in hrefs)  # the UI, the source
    close = doc.xpath("//ul[@class='close']//a/@href")
    same_dir = {f"/web/{TS}/{PAGE}", f"/web/{TS}/http://site.test/dir/i.png"}
    assert set(close[:2]) == same_dir  # the same directory first
    assert all("site.test/" in h for h in close)
    assert r.headers["x-dns-prefetch-control"] == "off"


def test_inside_a_frame_a_blank_placeholder(client: TestClient) -> None:  # noqa: F811
    for path, headers in [(f"/web/{TS}if_/https://ads.test/serve", {}),
                          (f"/web/{TS}/https://ads.test/serve", {"Sec-Fetch-Dest": "iframe"})]:
        r = client.get(path, headers=headers, follow_redirects=False)
        assert r.status_code == 404
        doc = lxml.html.document_fromstring(r.content)
        assert doc.findtext(".//h1") is None and doc.find(".//body").text_content() == ""
        assert len(r.content) < 300


def test_raw_page_navigated_to_is_shown_as_source(client: TestClient) -> None:  # noqa: F811
    r = client.get(f"/web/{TS}id_/{PAGE}", headers={"Sec-Fetch-Dest": "document"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert b"<iframe" in r.content  # the archived bytes, shown, not rendered
    r = client.get(f"/web/{TS}id_/{PAGE}")  # a tool (no Sec-Fetch-Dest) gets the archived type
    assert r.headers["content-type"].startswith("text/html")


def test_redirect_to_the_exact_capture_allows_cross_origin_loads(client: TestClient) -> None:  # noqa: F811
    # A replayed page is sandboxed (origin "null"): its fonts and fetches are CORS requests, and
    # they follow this redirect, which must say so too or the browser drops the load.
    r = client.get(f"/web/2021/{PAGE}", headers={"Origin": "null"}, follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"] == f"/web/{TS}/{PAGE}"
    assert r.headers["access-control-allow-origin"] == "*"
