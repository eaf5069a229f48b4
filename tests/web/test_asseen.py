"""Replay as seen, without a browser: a page with a rendered-DOM record replays from that DOM
(scripts, handlers and connection hints gone, links into the archive, a script-free CSP), its
screenshot is served at /seen/; a cache-busted URL finds the capture whose other parameters agree
(fuzzy lookup) and nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import lxml.html
import pytest
from fastapi.testclient import TestClient

from citevault.archive import Archive
from citevault.asseen import SEEN_CSP
from citevault.config import Settings
from citevault.crawler.recorder import CaptureRecorder
from citevault.fuzzy import query_key
from citevault.storage.warcstore import WarcStore
from citevault.web import create_app
from tests.web.test_cdx import record

TS = "20210101000000"
PAGE = "http://site.test/news/story"
SHELL = b"<html><head><script src='/app.js'></script></head><body><div id='root'></div></body></html>"
DOM = b"""<!DOCTYPE html><html><head><title>Story</title>
<link rel="preconnect" href="https://cdn.elsewhere.test"><link rel="stylesheet" href="/s.css">
<script src="/app.js"></script><meta http-equiv="refresh" content="5; url=https://live.test/">
</head><body><noscript>Please enable JavaScript</noscript>
<article onclick="alert(1)"><h1>Built by scripts</h1><img id="hero" src="https://site.test/hero.gif">
<p>The text the reader saw.</p><a href="https://cited.test/report">report</a></article>
<script>document.title = 'x'</script></body></html>"""
PNG = b"\x89PNG\r\n\x1a\nfake"
API = "http://site.test/api/items.json"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(home=tmp_path_factory.mktemp("asseen"))
    archive = Archive(settings)
    snap = archive.queue([PAGE])[0].snapshot_id
    with WarcStore(Path(archive.warc_dir)) as store:
        rec = CaptureRecorder(archive.index, store)
        page = record(rec, snap, PAGE, TS, SHELL)
        for kind, ctype, body in (("dom", "text/html; charset=utf-8", DOM), ("view", "image/png", PNG)):
            rec.record_resource(snap, f"urn:{kind}:{PAGE}", ctype, body, role="requisite", parent_id=page.id)
        record(rec, snap, "http://site.test/plain", TS, b"<p>plain <script>1</script></p>")
        for item in ("5", "6"):
            record(rec, snap, f"{API}?id={item}&_=1700000000{item}", TS, f'{{"id": {item}}}'.encode(),
                   headers=[("Content-Type", "application/json")], role="requisite")
        record(rec, snap, "http://site.test/search?q=a", TS, b"results for a",
               headers=[("Content-Type", "text/plain")])
    with TestClient(create_app(settings, archive)) as c:
        yield c
    archive.close()


def test_page_with_a_rendered_dom_replays_as_seen(client: TestClient) -> None:
    r = client.get(f"/web/{TS}/{PAGE}")
    assert r.status_code == 200 and r.headers["content-security-policy"] == SEEN_CSP
    doc = lxml.html.document_fromstring(r.content)
    assert "The text the reader saw." in doc.text_content()
    assert not doc.xpath("//script | //noscript | //*[@onclick] | //link[@rel='preconnect']")
    assert not doc.xpath("//meta[@http-equiv='refresh']")
    assert doc.get_element_by_id("hero").get("src") == f"/web/{TS}im_/https://site.test/hero.gif"
    assert doc.xpath("//link[@rel='stylesheet']")[0].get("href") == f"/web/{TS}cs_/http://site.test/s.css"
    assert doc.xpath("//article/a")[0].get("href") == f"/web/{TS}/https://cited.test/report"
    banner = doc.get_element_by_id("citevault-banner")
    links = {a.text_content(): a.get("href") for a in banner.iter("a")}
    assert links["HTML as the server sent it"] == f"/web/{TS}if_/{PAGE}"
    assert "Full-page screenshot" not in links  # none recorded
    shot = client.get(links["Screenshot"])
    assert shot.status_code == 200 and shot.content == PNG and shot.headers["content-type"] == "image/png"
    # The server's HTML is still there, in the frame mode (no as-seen view there).
    served = client.get(f"/web/{TS}if_/{PAGE}")
    assert b"id=\"root\"" in served.content and b"The text the reader saw" not in served.content


def test_page_without_a_rendered_dom_replays_as_archived(client: TestClient) -> None:
    r = client.get(f"/web/{TS}/http://site.test/plain")
    assert r.status_code == 200 and r.headers["content-security-policy"] != SEEN_CSP
    assert b"<script>1</script>" in r.content


def test_seen_route_rejects_bad_input(client: TestClient) -> None:
    assert client.get(f"/seen/{TS}/thumb/{PAGE}").status_code == 400
    assert client.get(f"/seen/{TS}id_/view/{PAGE}").status_code == 400
    assert client.get(f"/seen/{TS}/fullPage/{PAGE}").status_code == 404
    assert client.get(f"/seen/{TS}/view/http://site.test/never").status_code == 404


def test_cache_busters_are_ignored_other_parameters_are_not() -> None:
    assert query_key(f"{API}?id=5&_=17000000001") == query_key(f"{API}?_=9&id=5")
    assert query_key(f"{API}?id=5&t=1&cb=x&utm_source=y&ts=1700000000000") == {("id", "5")}
    assert query_key(f"{API}?id=5&cache_key=4") == {("id", "5")}
    assert query_key(f"{API}?id=5") != query_key(f"{API}?id=6")
    assert query_key(f"{API}?since=1700000000") == frozenset()  # a time by its value


def test_fuzzy_lookup_serves_the_matching_capture(client: TestClient) -> None:
    r = client.get(f"/web/{TS}id_/{API}?id=6&_=1999999999999", follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"] == f"/web/{TS}id_/{API}?id=6&_=17000000006"
    assert client.get(r.headers["location"]).json() == {"id": 6}
    assert client.get(f"/web/{TS}id_/{API}?id=7&_=1").status_code == 404
    assert client.get(f"/web/{TS}id_/http://site.test/search?q=b").status_code == 404
