"""The web interface in-process: every page renders with a strict CSP and no scripts, values are
escaped, the archive form queues through the API's path (bad input and missing tokens refused with
a message), search hits and misses, and the replay links of a source page resolve."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import lxml.html
import pytest
from fastapi.testclient import TestClient
from httpx2 import Response  # what starlette's TestClient returns

from citevault.archive import Archive
from citevault.auth import create_token, revoke_token
from citevault.config import Settings
from citevault.crawler.recorder import CaptureRecorder
from citevault.linkrot import check_source
from citevault.storage.snapshots import finish_snapshots
from citevault.storage.warcstore import WarcStore
from citevault.web import create_app
from citevault.web.ui import CSP
from citevault.workqueue import WorkQueue
from tests.fakeweb import FakeWeb
from tests.web.test_cdx import record

EVIL = "https://example.com/<script>alert(1)</script>"


@pytest.fixture
def client(home: Path) -> Iterator[TestClient]:
    app = create_app(Settings(home=home, allow_private_networks=True))
    with TestClient(app) as c:
        yield c
    app.state.archive.close()


def _archive(client: TestClient) -> Archive:
    archive: Archive = client.app.state.archive  # type: ignore[attr-defined]
    return archive


def _html(res: Response) -> lxml.html.HtmlElement:
    """A UI page: HTML with the UI's CSP, no scripts, no inline handlers."""
    assert res.headers["content-type"].startswith("text/html")
    assert res.headers["content-security-policy"] == CSP and "script-src" not in CSP
    assert res.headers["x-content-type-options"] == "nosniff"
    doc = lxml.html.document_fromstring(res.text)
    assert doc.xpath("//script") == [] and "<script" not in res.text.lower()
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
    assert {el.get("name") for el in form.xpath(".//input|.//select")} == {"url", "depth", "scope", "every",
                                                                          "note"}
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
    # Queued: the page refreshes itself (no script needed) and says so.
    assert doc.xpath('//meta[@http-equiv="refresh"]/@content') == ["3"]
    assert "queued" in doc.xpath("//details/summary")[0].text_content()
    assert doc.xpath('//a[text()="Download WACZ"]/@href') == ["/api/sources/1/wacz"]
    assert "every 6h" in doc.text_content()

    home = _html(client.get("/"))
    [row] = home.xpath("//tbody/tr")
    assert row.xpath(".//a/@href")[0] == "/ui/sources/1"
    assert "https://example.com/story" in row.text_content() and "queued" in row.text_content()


def test_the_source_list_is_paged(client: TestClient) -> None:
    _archive(client).queue([f"https://example.com/{n}" for n in range(1, 102)])
    doc = _html(client.get("/"))
    rows = doc.xpath("//tbody/tr")
    assert len(rows) == 100 and "https://example.com/101" in rows[0].text_content()
    [older] = doc.xpath('//a[text()="Older sources"]/@href')
    assert older == "/?before=2#sources"
    rest = _html(client.get("/", params={"before": "2"})).xpath("//tbody/tr")
    assert [r.xpath(".//a/@href")[0] for r in rest] == ["/ui/sources/1"]
    assert "No older sources" in _html(client.get("/", params={"before": "1"})).text_content()


def test_only_the_newest_runs_list_their_captures(client: TestClient) -> None:
    [queued] = _archive(client).queue(["https://example.com/often"])
    for _ in range(6):
        _archive(client).requeue(queued.source_id)
    doc = _html(client.get(f"/ui/sources/{queued.source_id}"))
    runs = doc.xpath("//details")
    assert [r.xpath("./summary")[0].text_content().split(" · ")[0] for r in runs] == [
        f"Snapshot #{n}" for n in range(7, 0, -1)]
    assert ["No captures yet" in r.text_content() for r in runs] == [True] * 5 + [False] * 2
    assert runs[-1].xpath(".//a/@href") == ["/api/snapshots/1"]


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


def test_the_form_needs_a_token_once_one_exists(client: TestClient) -> None:
    assert not _html(client.get("/")).xpath('//input[@name="token"]')
    token = create_token(_archive(client).index, "editor")
    [field] = _html(client.get("/")).xpath('//form[@action="/ui/add"]//input[@name="token"]')
    assert field.get("type") == "password"

    res = _add(client, url="https://example.com/a")
    assert res.status_code == 401 and "enter it in the token field" in _error(_html(res))
    res = _add(client, url="https://example.com/a", token="cvt_wrong")
    assert res.status_code == 401 and _error(_html(res)) == "invalid token"
    assert token not in res.text
    assert client.get("/api/sources").json() == {"sources": []}
    # The API itself still wants the header: the form route did not open a hole.
    assert client.post("/api/sources", json={"url": "https://example.com/a"}).status_code == 401

    res = _add(client, url="https://example.com/a", token=token)
    assert res.status_code == 303 and res.headers["location"] == "/ui/sources/1"
    # A script may send the header instead.
    res = client.post("/ui/add", data={"url": "https://example.com/b"}, follow_redirects=False,
                      headers={"Authorization": f"Bearer {token}"})
    assert res.status_code == 303 and res.headers["location"] == "/ui/sources/2"
    create_token(_archive(client).index, "other")  # with no token left, writes would be open again
    revoke_token(_archive(client).index, "editor")
    res = _add(client, url="https://example.com/c", token=token)
    assert res.status_code == 401 and "revoked" in _error(_html(res))
    assert [s["url"] for s in client.get("/api/sources").json()["sources"]] == [
        "https://example.com/a", "https://example.com/b"]


PAGE = "http://site.test/article"
CITED = "http://cited.test/report"
PAGE_HTML = b"<html><head><title>The article</title></head><body><p>text</p></body></html>"


def test_search_and_source_page_from_recorded_captures(client: TestClient) -> None:
    archive = _archive(client)
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
    [again] = archive.queue([PAGE])
    with WarcStore(Path(archive.warc_dir)) as store:
        record(CaptureRecorder(archive.index, store), again.snapshot_id, PAGE, "20250101000000",
               PAGE_HTML.replace(b"text", b"new text"))

    res = client.get("/ui/sources/1")
    doc = _html(res)
    assert doc.xpath('//meta[@http-equiv="refresh"]') == []
    hrefs = [h for h in doc.xpath("//details//a/@href") if h.startswith("/web/")]
    assert hrefs == [f"/web/20240101000000/{PAGE}", f"/web/20240101000000id_/{PAGE}",
                     f"/web/20240101000001/{CITED}", f"/web/20240101000001id_/{CITED}"]
    for href in hrefs:
        got = client.get(href, follow_redirects=False)
        assert got.status_code == 200, href
    raw = client.get(f"/web/20240101000000id_/{PAGE}")
    assert raw.content == PAGE_HTML  # the client undid the archived gzip: byte-identical
    assert client.get(f"/web/20240101000001id_/{CITED}").content == b"report body"
    text = doc.text_content()
    assert "not archived: DNS lookup failed" in text and "partial" in text
    # Cited links with their archived copies, and citations pointing at them.
    cited_rows = {r.xpath("./td[1]//a/@href")[0]: r
                  for r in doc.xpath("//h2[2]/following-sibling::table[1]//tr") if r.xpath("./td[1]//a")}
    assert set(cited_rows) == {PAGE, CITED}
    assert cited_rows[CITED].xpath(".//td[5]//a/@href") == [f"/web/20240101000001/{CITED}"]
    assert "“the <report>”" in cited_rows[CITED].text_content()
    assert "unchecked" in cited_rows[CITED].text_content()
    pres = [p.text_content() for p in doc.xpath("//pre")]
    assert len(pres) == 3
    assert f'data-versionurl="http://testserver/web/20240101000000/{PAGE}"' in pres[0]
    assert f"[archived 2024-01-01](http://testserver/web/20240101000001/{CITED})" in pres[1]
    assert pres[2].startswith("@misc{citevault1,") and "The article" in pres[2]

    hit = client.get("/ui/search", params={"url": PAGE})
    assert hit.status_code == 200
    hdoc = _html(hit)
    rows = hdoc.xpath("//tbody/tr")
    assert [r.xpath("./td[1]")[0].text_content() for r in rows] == [
        "2025-01-01 00:00:00", "2024-01-01 00:00:00"]
    assert [r.xpath(".//a/@href") for r in rows] == [
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
        archive = _archive(client)
        job = WorkQueue(archive.index).claim(1)
        assert job is not None
        archive.capture([job])

        doc = _html(client.get("/ui/sources/1"))
        assert doc.xpath('//meta[@http-equiv="refresh"]') == []
        assert "done" in doc.xpath("//details/summary")[0].text_content()
        hrefs = [h for h in doc.xpath("//details//a/@href") if h.startswith("/web/")]
        assert {h.split("/", 3)[3] for h in hrefs} == {ARTICLE, SOURCE, "http://news.ui.test/s.css", FAVICON}
        for href in hrefs:
            assert client.get(href, follow_redirects=False).status_code == 200, href
        raw = next(h for h in hrefs if "id_/" in h and h.endswith(SOURCE))
        assert client.get(raw).text == statement

        fw.add(SOURCE, "gone", status=404)
        check_source(archive, 1)
        doc = _html(client.get("/ui/sources/1"))
        [row] = [r for r in doc.xpath("//tr") if r.xpath(f'./td[1]//a[@href="{SOURCE}"]')]
        assert "gone" in row.text_content()
        [instead] = row.xpath('.//a[text()="cite instead"]/@href')
        assert instead.startswith("http://testserver/web/") and instead.endswith(SOURCE)
        assert client.get(instead.removeprefix("http://testserver")).status_code == 200
        home = _html(client.get("/"))
        assert "1 gone" in " ".join(home.xpath("//tbody/tr")[0].text_content().split())


def test_cross_site_form_posts_are_refused(tmp_path: Path) -> None:
    """An archived page replayed from this origin (sandboxed: origin "null") must not be able to
    archive or schedule anything, even while no token exists."""
    from fastapi.testclient import TestClient

    from citevault.config import Settings
    from citevault.web import create_app

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
