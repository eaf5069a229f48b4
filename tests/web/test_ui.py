"""The web interface in-process: every page renders with a strict CSP and only our own script,
values are escaped, the archive form queues through the API's path (bad input and missing logins
refused with a message), search hits and misses, a source page groups its captures, marks failures
and offers citations only for archived copies, and errors are pages for browsers, JSON for /api.
Logging in is tests/web/test_session.py; the real browser is tests/web/test_ui_browser.py."""

from __future__ import annotations

import gzip
from pathlib import Path

import lxml.html
import pytest
from fastapi.testclient import TestClient
from httpx2 import Response  # what starlette's TestClient returns

from citevault.auth import create_token
from citevault.config import Settings
from citevault.crawler.recorder import CaptureRecorder
from citevault.linkrot import check_source
from citevault.storage.index import surt_key
from citevault.storage.models import Snapshot, Source, utcnow
from citevault.storage.snapshots import finish_snapshots
from citevault.storage.warcstore import WarcStore
from citevault.web import create_app
from citevault.web.api import SourceRequest
from citevault.web.ui import CSP
from citevault.workqueue import WorkQueue
from tests.fakeweb import FakeWeb
from tests.web.conftest import archive_of
from tests.web.test_cdx import record

EVIL = "https://example.com/<script>alert(1)</script>"


def _html(res: Response) -> lxml.html.HtmlElement:
    """A UI page: HTML with the UI's CSP, no scripts, no inline handlers."""
    assert res.headers["content-type"].startswith("text/html")
    assert res.headers["content-security-policy"] == CSP and "script-src 'self';" in CSP
    assert res.headers["x-content-type-options"] == "nosniff"
    doc = lxml.html.document_fromstring(res.text)
    # One script, our own file: no inline code (the CSP would refuse it anyway).
    scripts = [(s.get("src"), (s.text or "").strip()) for s in doc.xpath("//script")]
    assert scripts == [("/ui/static/ui.js", "")]
    assert not [a for el in doc.iter() if isinstance(el.tag, str) for a in el.attrib if a.startswith("on")]
    return doc


def _error(doc: lxml.html.HtmlElement) -> str:
    [box] = doc.xpath('//*[@role="alert"]')
    return str(box.text_content())


def _add(client: TestClient, **form: str) -> Response:
    return client.post("/ui/add", data=form, follow_redirects=False)


def test_pages_render_when_empty(client: TestClient) -> None:
    doc = _html(client.get("/"))
    [form] = doc.xpath('//form[@action="/ui/add"]')
    assert form.get("method") == "post"
    # The browser choice appears once the API takes it (browser capture).
    browser = {"browser"} if "browser" in SourceRequest.model_fields else set()
    assert {el.get("name") for el in form.xpath(".//input|.//select")} == {"url", "depth", "scope", "every",
                                                                          "note", *browser}
    assert "Nothing archived yet" in doc.text_content()
    assert doc.xpath('//form[@action="/ui/search"]//input[@name="url"]')
    assert doc.xpath('//link[@rel="stylesheet"]/@href') == ["/ui/static/style.css"]
    css = client.get("/ui/static/style.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "body" in css.text
    assert client.get("/ui/static/../ui.py").status_code == 404
    assert client.get("/ui/static/secret.txt").status_code == 404
    empty = client.get("/ui/search")
    assert empty.status_code == 200 and "Find the captures" in _html(empty).text_content()
    missing = client.get("/ui/sources/42")
    assert missing.status_code == 404 and _error(_html(missing)) == "no source with id 42"


@pytest.mark.parametrize(("form", "message"), [
    ({"url": "ftp://example.com/x"}, "unsupported URL scheme"),
    ({"url": "not a url"}, "not a URL"),
    ({"url": ""}, "empty URL"),
    ({"url": "https://example.com/", "depth": "3"}, "depth must be 0 or 1"),
    ({"url": "https://example.com/", "scope": "everything"}, "scope must be"),
    ({"url": "https://example.com/", "every": "often"}, "bad duration"),
])
def test_bad_form_input_is_a_400_with_the_message(client: TestClient, form: dict[str, str],
                                                  message: str) -> None:
    res = _add(client, note="kept <b>", **form)
    assert res.status_code == 400
    doc = _html(res)
    assert message in _error(doc)
    # The form comes back as it was sent, so the user can fix it.
    assert doc.xpath('//form[@action="/ui/add"]//input[@name="url"]/@value') == [form["url"]]
    assert doc.xpath('//input[@name="note"]/@value') == ["kept <b>"]
    assert client.get("/api/sources").json() == {"sources": []}


def test_form_must_be_url_encoded(client: TestClient) -> None:
    res = client.post("/ui/add", json={"url": "https://example.com/"})
    assert res.status_code == 400 and "x-www-form-urlencoded" in _error(_html(res))
    res = client.post("/ui/add", content=b"url=" + b"x" * 70_000,
                      headers={"content-type": "application/x-www-form-urlencoded"})
    assert res.status_code == 400 and "too large" in _error(_html(res))
    assert client.get("/api/sources").json() == {"sources": []}


def test_form_queues_through_the_api_and_redirects(client: TestClient) -> None:
    res = _add(client, url="HTTPS://Example.com/story", depth="0", scope="all", every="6h", note="§3")
    assert res.status_code == 303 and res.headers["location"] == "/ui/sources/1"
    # The same path as POST /api/sources: the trigger says api, the schedule is registered.
    detail = client.get("/api/sources/1").json()
    assert (detail["url"], detail["depth"], detail["scope"], detail["note"], detail["schedule"]) == (
        "https://example.com/story", 0, "all", "§3", "every 6h")
    assert [(s["state"], s["trigger"]) for s in detail["snapshots"]] == [("queued", "api")]
    assert [j["id"] for j in client.get("/api/schedules").json()["schedules"]] == ["recapture-1"]

    page = client.get("/ui/sources/1")
    assert page.status_code == 200
    doc = _html(page)
    # Queued: the progress box, polled by the script, and a refresh for browsers without scripts.
    assert doc.xpath('//noscript/meta[@http-equiv="refresh"]/@content') == ["3"]
    [box] = doc.xpath('//section[@class="progress"]')
    assert box.get("data-progress") == "/ui/snapshots/1/progress"
    assert "is queued: 0 done, 0 failed" in " ".join(box.text_content().split())
    assert client.get("/ui/snapshots/1/progress").json() == {
        "id": 1, "state": "queued", "done": 0, "failed": 0, "bytes": 0, "latest": None, "finished": False}
    assert "queued" in doc.xpath('//ol[@class="timeline"]/li')[0].text_content()
    assert doc.xpath('//a[text()="Download WACZ"]/@href') == ["/api/sources/1/wacz"]
    assert "every 6h" in doc.text_content()
    assert not doc.xpath('//*[@id="cite"]/following::textarea')  # nothing archived: nothing to cite

    home = _html(client.get("/"))
    [row] = home.xpath("//tbody/tr")
    assert row.xpath(".//a/@href")[0] == "/ui/sources/1"
    assert "https://example.com/story" in row.text_content() and "queued" in row.text_content()


def test_the_source_list_is_paged(client: TestClient) -> None:
    archive_of(client).queue([f"https://example.com/{n}" for n in range(1, 27)])
    doc = _html(client.get("/"))
    rows = doc.xpath("//tbody/tr")
    assert len(rows) == 25 and "https://example.com/26" in rows[0].text_content()
    assert "26 in all" in doc.xpath("//caption")[0].text_content()
    [older] = doc.xpath('//nav[@class="pager"]//a[@rel="next"]/@href')
    assert older == "/?before=2#sources"
    rest = _html(client.get("/", params={"before": "2"}))
    assert [r.xpath(".//a/@href")[0] for r in rest.xpath("//tbody/tr")] == ["/ui/sources/1"]
    assert not rest.xpath('//a[@rel="next"]') and rest.xpath('//a[@rel="prev"]/@href') == ["/"]
    assert "No older sources" in _html(client.get("/", params={"before": "1"})).text_content()


def test_the_timeline_lists_every_run_and_shows_one(client: TestClient) -> None:
    [queued] = archive_of(client).queue(["https://example.com/often"])
    for _ in range(6):
        archive_of(client).requeue(queued.source_id)
    doc = _html(client.get(f"/ui/sources/{queued.source_id}"))
    runs = doc.xpath('//ol[@class="timeline"]/li')
    assert [r.xpath("./a")[0].text_content() for r in runs] == [f"Snapshot #{n}" for n in range(7, 0, -1)]
    assert runs[0].get("aria-current") == "true"
    assert runs[-1].xpath("./a/@href") == ["/ui/sources/1?snapshot=1#captures"]
    assert "No captures yet" in doc.text_content()
    old = _html(client.get("/ui/sources/1", params={"snapshot": "1"}))
    assert old.xpath('//h2[@id="captures"]')[0].text_content() == "Captures of snapshot #1"
    # A snapshot of another source is not shown here.
    [other] = archive_of(client).queue(["https://example.com/other"])
    doc = _html(client.get("/ui/sources/1", params={"snapshot": str(other.snapshot_id)}))
    assert doc.xpath('//h2[@id="captures"]')[0].text_content() == "Captures of snapshot #7"


def test_everything_is_escaped(client: TestClient) -> None:
    assert _add(client, url=EVIL, note="<img src=x onerror=alert(2)>").status_code == 303
    for path in ("/", "/ui/sources/1"):
        res = client.get(path)
        doc = _html(res)  # no <script>, no on* attribute anywhere
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in res.text
        assert "<img src=x" not in res.text and "&lt;img src=x onerror=alert(2)&gt;" in res.text
        assert EVIL in doc.text_content()
    res = client.get("/ui/search", params={"url": EVIL})
    assert res.status_code == 404
    doc = _html(res)
    assert doc.xpath('//form[@action="/ui/add"]//input[@name="url"]/@value') == [EVIL]
    bad = client.get("/ui/search", params={"url": "javascript:<script>alert(3)</script>"})
    assert bad.status_code == 400
    assert "alert(3)" in _error(_html(bad)) and "&lt;script&gt;alert(3)" in bad.text
    res = _add(client, url="javascript:<script>alert(4)</script>")
    assert res.status_code == 400 and "unsupported URL scheme" in _error(_html(res))


def test_the_form_needs_a_login_once_a_token_exists(client: TestClient) -> None:
    token = create_token(archive_of(client).index, "editor")
    doc = _html(client.get("/"))
    assert not doc.xpath('//input[@name="token"]')  # never a token field in a form
    assert doc.xpath('//a[@href="/ui/login"]')
    res = _add(client, url="https://example.com/a")
    assert res.status_code == 401 and "log in" in _error(_html(res))
    assert client.get("/api/sources").json() == {"sources": []}
    # A script may send the bearer header instead of a session.
    res = client.post("/ui/add", data={"url": "https://example.com/b"}, follow_redirects=False,
                      headers={"Authorization": f"Bearer {token}"})
    assert res.status_code == 303 and res.headers["location"] == "/ui/sources/1"


PAGE = "http://site.test/article"
CITED = "http://cited.test/report"
PAGE_HTML = b"<html><head><title>The article</title></head><body><p>text</p></body></html>"


def test_search_and_source_page_from_recorded_captures(client: TestClient) -> None:
    archive = archive_of(client)
    [queued] = archive.queue([PAGE], trigger="cli")
    with WarcStore(Path(archive.warc_dir)) as store:
        rec = CaptureRecorder(archive.index, store)
        rec.start_snapshot(queued.snapshot_id)
        seed = record(rec, queued.snapshot_id, PAGE, "20240101000000", gzip.compress(PAGE_HTML, mtime=0),
                      headers=[("Content-Type", "text/html"), ("Content-Encoding", "gzip")])
        rec.record_links(seed.id, [(CITED, "the <report>", "cited")])
        record(rec, queued.snapshot_id, CITED, "20240101000001", b"report body",
               headers=[("Content-Type", "text/plain")], role="cited")
        rec.record_failure(queued.snapshot_id, "http://site.test/missing.css", "DNS lookup failed",
                           role="requisite", parent_id=seed.id)
        rec.commit()
        finish_snapshots(archive.index, [queued.snapshot_id])  # partial: a requisite failed
    with archive.index.session() as s:  # a newer capture of the page by another source (citing it)
        citing = "http://site.test/citing"
        src = Source(url=citing, surt=surt_key(citing), created_at=utcnow())
        s.add(src)
        s.flush()
        snap = Snapshot(source_id=src.id, trigger="cli", state="queued", queued_at=utcnow())
        s.add(snap)
        s.flush()
        again = snap.id
    with WarcStore(Path(archive.warc_dir)) as store:
        record(CaptureRecorder(archive.index, store), again, PAGE, "20250101000000",
               PAGE_HTML.replace(b"text", b"new text"))

    res = client.get("/ui/sources/1")
    doc = _html(res)
    assert doc.xpath('//meta[@http-equiv="refresh"]') == [] and not doc.xpath('//section[@class="progress"]')
    assert doc.xpath("//h1")[0].text_content() == "The article"
    # Pages first (seed, then what it cites); requisites folded away, the failed one marked.
    [pages, reqs] = doc.xpath('//h2[@id="captures"]/following::table[position() <= 2]')
    hrefs = [h for h in pages.xpath(".//a/@href") if h.startswith("/web/")]
    assert hrefs == [f"/web/20240101000000/{PAGE}", f"/web/20240101000000id_/{PAGE}",
                     f"/web/20240101000001/{CITED}", f"/web/20240101000001id_/{CITED}"]
    assert reqs.xpath("ancestor::details[@class='requisites']/@open") == []
    [failed] = reqs.xpath(".//tbody/tr")
    assert failed.get("class") == "bad" and "not archived: DNS lookup failed" in failed.text_content()
    for href in hrefs:
        got = client.get(href, follow_redirects=False)
        assert got.status_code == 200, href
    raw = client.get(f"/web/20240101000000id_/{PAGE}")
    assert raw.content == PAGE_HTML  # the client undid the archived gzip: byte-identical
    assert client.get(f"/web/20240101000001id_/{CITED}").content == b"report body"
    assert "partial" in doc.xpath('//ol[@class="timeline"]')[0].text_content()
    assert doc.xpath('//a[text()="Open the archived page"]/@href') == [f"/web/20240101000000/{PAGE}"]
    # Cited links with their archived copies, and citations pointing at them.
    cited_rows = {r.xpath("./td[1]//a/@href")[0]: r
                  for r in doc.xpath('//h2[@id="cited"]/following-sibling::table[1]//tbody/tr')}
    assert set(cited_rows) == {PAGE, CITED}
    assert cited_rows[CITED].xpath(".//td[5]//a/@href") == [f"/web/20240101000001/{CITED}"]
    assert "“the <report>”" in cited_rows[CITED].text_content()
    assert "unchecked" in cited_rows[CITED].text_content()
    boxes = {t.get("id"): t.text_content() for t in doc.xpath("//textarea")}
    assert list(boxes) == ["cite-robust-html", "cite-markdown", "cite-text", "cite-bibtex", "cite-wikipedia"]
    assert boxes["cite-wikipedia"].startswith(
        f"{{{{cite web |url={PAGE} |title=The article |archive-url=http://testserver/web/20240101000000/{PAGE}"
        " |archive-date=2024-01-01")
    assert f'data-versionurl="http://testserver/web/20240101000000/{PAGE}"' in boxes["cite-robust-html"]
    assert f"[archived 2024-01-01](http://testserver/web/20240101000001/{CITED})" in boxes["cite-markdown"]
    assert boxes["cite-bibtex"].startswith("@online{citevault1,") and "The article" in boxes["cite-bibtex"]
    # Each copy button works without scripts too: it links to that format's text.
    assert doc.xpath('//a[@data-copy="cite-markdown"]/@href') == ["/api/sources/1/cite?format=markdown"]
    assert client.get("/api/sources/1/cite?format=markdown").text.strip() == boxes["cite-markdown"].strip()
    # The same as pages of their own.
    report = _html(client.get("/ui/sources/1/report"))
    assert len(report.xpath("//tbody/tr")) == 2 and "“the <report>”" in report.text_content()
    cite = _html(client.get("/ui/sources/1/cite"))
    assert [t.get("id") for t in cite.xpath("//textarea")] == list(boxes)
    # The start page names the source by its title.
    assert _html(client.get("/")).xpath('//tbody/tr[last()]//a[@class="title"]')[0].text == "The article"

    hit = client.get("/ui/search", params={"url": PAGE})
    assert hit.status_code == 200
    hdoc = _html(hit)
    rows = hdoc.xpath("//tbody/tr")
    assert [r.xpath("./td[1]")[0].text_content() for r in rows] == [
        "2025-01-01 00:00:00", "2024-01-01 00:00:00"]
    assert [[h for h in r.xpath(".//a/@href") if h.startswith("/")] for r in rows] == [
        [f"/web/20250101000000/{PAGE}", f"/web/20250101000000id_/{PAGE}", "/ui/sources/2"],
        [f"/web/20240101000000/{PAGE}", f"/web/20240101000000id_/{PAGE}", "/ui/sources/1"],
    ]
    # The search box keeps the query; no archive form on a hit.
    assert hdoc.xpath('//form[@action="/ui/search"]//input[@name="url"]/@value') == [PAGE]
    assert not hdoc.xpath('//form[@action="/ui/add"]')

    miss = client.get("/ui/search", params={"url": "http://site.test/missing.css"})
    assert miss.status_code == 404
    mdoc = _html(miss)
    assert "Not archived yet" in mdoc.text_content() and "DNS lookup failed" in mdoc.text_content()
    assert mdoc.xpath('//form[@action="/ui/add"]//input[@name="url"]/@value') == ["http://site.test/missing.css"]
    never = _html(client.get("/ui/search", params={"url": "nowhere.test/x"}))
    assert "did you mean https://nowhere.test/x" in _error(never)


ARTICLE = "http://news.ui.test/2026/story"
SOURCE = "http://gov.ui.test/statement"
FAVICON = "http://news.ui.test/favicon.ico"


def test_a_real_capture_seen_through_the_ui(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeWeb() as fw:
        for k, v in fw.proxy_env().items():
            monkeypatch.setenv(k, v)
        statement = f"<html><head><title>Statement</title></head><body><p>{'policy ' * 200}</p></body></html>"
        fw.add(SOURCE, statement)
        fw.add(ARTICLE, "<html><head><title>Story</title><link rel='stylesheet' href='/s.css'></head><body>"
               f"<article><p>{'words ' * 300}</p><p>As <a href='{SOURCE}'>the statement</a> says.</p>"
               "</article></body></html>")
        fw.add("http://news.ui.test/s.css", "body { color: #222 }", headers={"Content-Type": "text/css"})
        fw.add(FAVICON, b"\x00\x00\x01\x00", headers={"Content-Type": "image/x-icon"})
        assert _add(client, url=ARTICLE).status_code == 303
        archive = archive_of(client)
        job = WorkQueue(archive.index).claim(1)
        assert job is not None
        archive.capture([job])

        doc = _html(client.get("/ui/sources/1"))
        assert doc.xpath('//meta[@http-equiv="refresh"]') == []
        assert "done" in doc.xpath('//ol[@class="timeline"]/li')[0].text_content()
        assert doc.xpath("//h1")[0].text_content() == "Story"
        hrefs = [h for h in doc.xpath('//h2[@id="captures"]/following::table[position() <= 2]//a/@href')
                 if h.startswith("/web/")]
        assert {h.split("/", 3)[3] for h in hrefs} == {ARTICLE, SOURCE, "http://news.ui.test/s.css", FAVICON}
        for href in hrefs:
            assert client.get(href, follow_redirects=False).status_code == 200, href
        raw = next(h for h in hrefs if "id_/" in h and h.endswith(SOURCE))
        assert client.get(raw).text == statement

        fw.add(SOURCE, "gone", status=404)
        check_source(archive, 1)
        doc = _html(client.get("/ui/sources/1"))
        [row] = [r for r in doc.xpath('//h2[@id="cited"]/following-sibling::table[1]//tbody/tr')
                 if r.xpath(f'./td[1]//a[@href="{SOURCE}"]')]
        assert "gone" in row.text_content() and "cite this copy instead" in row.text_content()
        [copy] = row.xpath("./td[5]/a/@href")
        assert copy.startswith("/web/") and copy.endswith(SOURCE)
        assert client.get(copy).status_code == 200
        home = _html(client.get("/"))
        assert "1 gone" in " ".join(home.xpath("//tbody/tr")[0].text_content().split())


def test_cross_site_form_posts_are_refused(tmp_path: Path) -> None:
    """An archived page replayed from this origin (sandboxed: origin "null") must not be able to
    archive or schedule anything, even while no token exists."""
    from fastapi.testclient import TestClient


    client = TestClient(create_app(Settings(home=tmp_path / "csrf")))
    form = {"url": "https://example.test/page", "every": "1m"}
    for headers in ({"Origin": "null"}, {"Origin": "https://evil.example"},
                    {"Sec-Fetch-Site": "cross-site"}):
        r = client.post("/ui/add", data=form, headers=headers, follow_redirects=False)
        assert r.status_code == 403, headers
        assert "refused" in r.text
    assert client.get("/api/sources").json()["sources"] == []
    ok = client.post("/ui/add", data=form, follow_redirects=False,
                     headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"})
    assert ok.status_code == 303
