"""A source's pages in-process: a failed capture says why, offers no citation and can be retried;
captures of a big snapshot and cited links come a page at a time; the progress endpoint; "check
now" queues the check and the page follows it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import lxml.html
from fastapi.testclient import TestClient

from citevault.config import Settings
from citevault.web import create_app
from tests.fakeweb import FakeRequest, FakeWeb
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


def _hub_with_cited(client: TestClient, url: str, cited: list[str]) -> int:
    archive = archive_of(client)
    [queued] = archive.queue([url])
    with recording(archive, queued.snapshot_id) as rec:
        seed = record(rec, queued.snapshot_id, url, "20240101000000", b"<title>Article</title>")
        rec.record_links(seed.id, [(c, "a source", "cited") for c in cited])
    return queued.source_id


def _wait_for_check(client: TestClient, location: str) -> None:
    job = int(location.split("check=")[1].split("#")[0])
    deadline = time.monotonic() + 60
    while client.get(f"/api/checks/{job}").json()["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, "the queued check never finished"
        time.sleep(0.05)


def test_check_now_queues_the_check_and_the_source_page_follows_it(client: TestClient, web: FakeWeb) -> None:
    """The form's request returns before the check has fetched anything (it waits in the app's
    bounded queue of checks, not in the request), and the page shows it queued, then its result."""
    release, answered = threading.Event(), threading.Event()

    def held(req: FakeRequest) -> str:
        release.wait(30)
        answered.set()
        return "<title>Cited</title><p>still here</p>"

    web.add("http://cited.test/", held)
    sid = _hub_with_cited(client, URL, ["http://cited.test/"])
    doc = _doc(client, f"/ui/sources/{sid}/report")
    assert doc.xpath(f'//form[@action="/ui/sources/{sid}/check"]//button')
    assert doc.text_content().count("unchecked") == 2
    try:
        res = client.post(f"/ui/sources/{sid}/check", headers=FORM, follow_redirects=False)
        assert not answered.is_set()  # the check did not run in the request
        assert res.status_code == 303 and res.headers["location"].startswith(f"/ui/sources/{sid}?check=")
        [status] = _doc(client, res.headers["location"]).xpath('//section[@id="check"]//*[@role="status"]')
        assert "queued" in status.text_content() or "running" in status.text_content()
        assert status.xpath(".//a[text()='Refresh']")
    finally:
        release.set()
    _wait_for_check(client, res.headers["location"])
    doc = _doc(client, res.headers["location"])
    [status] = doc.xpath('//section[@id="check"]//*[@role="status"]')
    assert "Checked 2 cited links" in status.text_content()
    assert not doc.xpath("//noscript/meta")  # no more refreshing once it is done
    rows = {r.xpath("./td[1]//a/@href")[0]: r.xpath("./td[3]")[0].text_content()
            for r in _doc(client, f"/ui/sources/{sid}/report").xpath("//tbody/tr")}
    assert "alive" in rows["http://cited.test/"]
    assert client.post("/ui/sources/99/check", headers=FORM).status_code == 404


def test_check_now_with_the_queue_full_says_so(home: Path, web: FakeWeb) -> None:
    release = threading.Event()
    web.add("http://slow.test/", lambda req: "<p>late</p>" if release.wait(30) else None)
    app = create_app(Settings(home=home, allow_private_networks=True, check_workers=1, check_queue=1))
    try:
        with TestClient(app) as client:
            ids = [_hub_with_cited(client, f"http://site.test/{n}", ["http://slow.test/"]) for n in range(3)]
            first = client.post(f"/ui/sources/{ids[0]}/check", headers=FORM, follow_redirects=False)
            deadline = time.monotonic() + 30
            while app.state.checks.get(1).state != "running":  # the worker took it: the queue is empty
                assert time.monotonic() < deadline
                time.sleep(0.02)
            assert client.post(f"/ui/sources/{ids[1]}/check", headers=FORM, follow_redirects=False
                               ).status_code == 303  # waits in the queue, which is now full
            full = client.post(f"/ui/sources/{ids[2]}/check", headers=FORM, follow_redirects=False)
            assert full.status_code == 503 and full.headers["retry-after"] == "30"
            message = lxml.html.document_fromstring(full.text).text_content()
            assert "The links were not checked: 1 link checks are waiting already" in message
            release.set()
            _wait_for_check(client, first.headers["location"])
    finally:
        release.set()
        app.state.archive.close()
