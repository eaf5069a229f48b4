"""A source's pages in-process: a failed capture says why, offers no citation and can be retried;
captures of a big snapshot and cited links come a page at a time; the progress endpoint."""

from __future__ import annotations

import lxml.html
from fastapi.testclient import TestClient

from tests.fakeweb import FakeWeb
from tests.web.conftest import archive_of, recording
from tests.web.test_cdx import record

URL = "http://site.test/article"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _doc(client: TestClient, path: str) -> lxml.html.HtmlElement:
    res = client.get(path)
    assert res.status_code == 200, res.text
    return lxml.html.document_fromstring(res.text)


def test_a_failed_capture_offers_no_citation_and_a_retry(client: TestClient) -> None:
    archive = archive_of(client)
    [queued] = archive.queue([URL])
    with recording(archive, queued.snapshot_id) as rec:
        record(rec, queued.snapshot_id, URL, "20240101000000", b"<title>Unavailable</title>", status=503)
    doc = _doc(client, "/ui/sources/1")
    [alert] = doc.xpath('//*[@role="alert"]')
    assert "Not archived." in alert.text_content() and "HTTP 503" in alert.text_content()
    assert doc.xpath("//textarea") == [] and "Nothing to cite yet" in doc.text_content()
    assert "page not archived" in doc.xpath('//ol[@class="timeline"]/li')[0].text_content()
    assert not doc.xpath('//a[text()="Open the archived page"]')
    [row] = doc.xpath('//h2[@id="captures"]/following::table[1]//tbody/tr')
    assert row.get("class") == "bad" and "HTTP 503" in row.text_content()
    [form] = doc.xpath('//form[@action="/ui/sources/1/retry"]')
    assert form.xpath(".//button")[0].text == "Retry the capture"

    res = client.post("/ui/sources/1/retry", follow_redirects=False, headers=FORM)
    assert res.status_code == 303 and res.headers["location"] == "/ui/sources/1"
    snaps = client.get("/api/sources/1").json()["snapshots"]
    assert [(s["state"], s["trigger"]) for s in snaps][-1] == ("queued", "retry") and len(snaps) == 2
    assert client.post("/ui/sources/9/retry", headers=FORM).status_code == 404
    cross = client.post("/ui/sources/1/retry", headers={"Origin": "null"})
    assert cross.status_code == 403 and len(client.get("/api/sources/1").json()["snapshots"]) == 2


def test_big_snapshots_and_citation_lists_are_paged(client: TestClient) -> None:
    archive = archive_of(client)
    [queued] = archive.queue([URL])
    with recording(archive, queued.snapshot_id) as rec:
        seed = record(rec, queued.snapshot_id, URL, "20240101000000", b"<title>Hub</title>")
        rec.record_links(seed.id, [(f"http://c{n}.test/", f"link {n}", "cited") for n in range(60)])
        for n in range(60):
            rec.record_failure(queued.snapshot_id, f"http://c{n}.test/", "refused", role="cited")
    doc = _doc(client, "/ui/sources/1")
    pages = doc.xpath('//h2[@id="captures"]/following::table[1]//tbody/tr')
    assert len(pages) == 50 and "site.test/article" in pages[0].text_content()  # the seed first
    [nxt] = doc.xpath('//nav[@aria-label="Pages of captures"]//a[@rel="next"]/@href')
    assert nxt == "/ui/sources/1?snapshot=1&page=2#captures"
    rest = _doc(client, nxt.split("#")[0]).xpath('//h2[@id="captures"]/following::table[1]//tbody/tr')
    assert len(rest) == 11
    assert len(doc.xpath('//h2[@id="cited"]/following-sibling::table[1]//tbody/tr')) == 50
    [more] = doc.xpath('//nav[@aria-label="Pages of cited links"]//a[@rel="next"]/@href')
    cited = _doc(client, more.split("#")[0]).xpath('//h2[@id="cited"]/following-sibling::table[1]//tbody/tr')
    assert len(cited) == 11  # 61 in all: the article and what it cites

    progress = client.get("/ui/snapshots/1/progress").json()
    assert progress["finished"] and progress["state"] == "partial" and progress["latest"] == "http://c59.test/"
    assert client.get("/ui/snapshots/99/progress").status_code == 404


def test_the_report_page_checks_the_links_now(client: TestClient, web: FakeWeb) -> None:
    web.add("http://cited.test/", "<title>Cited</title><p>still here</p>")
    archive = archive_of(client)
    [queued] = archive.queue([URL])
    with recording(archive, queued.snapshot_id) as rec:
        seed = record(rec, queued.snapshot_id, URL, "20240101000000", b"<title>Article</title>")
        rec.record_links(seed.id, [("http://cited.test/", "a source", "cited")])
    doc = _doc(client, "/ui/sources/1/report")
    assert doc.xpath('//form[@action="/ui/sources/1/check"]//button')
    assert doc.text_content().count("unchecked") == 2
    res = client.post("/ui/sources/1/check", headers=FORM, follow_redirects=False)
    assert res.status_code == 303 and res.headers["location"] == "/ui/sources/1/report"
    rows = {r.xpath("./td[1]//a/@href")[0]: r.xpath("./td[3]")[0].text_content()
            for r in _doc(client, "/ui/sources/1/report").xpath("//tbody/tr")}
    assert "alive" in rows["http://cited.test/"]
