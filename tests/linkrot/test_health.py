"""Link-rot and drift monitoring: classifying cited URLs against their archived copies, the check
history, `citevault check` / `report`, and the report and check routes of the API."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from citevault.archive import Archive
from citevault.auth import create_token
from citevault.cli import get_app
from citevault.config import Settings
from citevault.linkrot import (
    Reference,
    check_source,
    check_url,
    is_home_url,
    parked_reason,
    read_page,
    report_source,
    soft_404_reason,
    text_similarity,
)
from citevault.storage.models import LinkCheck
from citevault.web import create_app
from tests.conftest import isolate_env, pg_database, route_through
from tests.fakeweb import FakeWeb

BASE = "https://vault.example.org"
ARTICLE = "https://blog.health.test/2026/why-links-rot"
ALIVE = "https://alive.health.test/reports/annual-2025"
DRIFT = "https://drift.health.test/news/council-vote"
GONE = "https://gone.health.test/press/statement-17"
MOVED = "https://moved.health.test/old/path/paper"
MOVED_TO = "https://moved.health.test/papers/2025/paper"
SOFT = "https://soft.health.test/story/12345"
HOME_SITE = "https://home.health.test/"
HOMED = "https://home.health.test/archive/2024/interview"
DEAD = "https://dead.health.test/never-there"  # a 404 already when the article was captured
CITED = [ALIVE, DRIFT, GONE, MOVED, SOFT, HOMED]


def _doc(title: str, *paragraphs: str, extra: str = "") -> str:
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head><body>"
        f"<nav><a href='/'>Home</a> <a href='/about'>About</a></nav>"
        f"<article><h1>{title}</h1>{body}</article>{extra}"
        f"<footer><p>Copyright 2026 the publisher of {title}</p></footer></body></html>"
    )


def _text(topic: str, n: int = 6) -> list[str]:
    return [
        f"Paragraph {i} about {topic}: the committee heard evidence from {i + 3} witnesses over "
        f"several days, and its members questioned each of them about the {topic} in detail."
        for i in range(n)
    ]


DRIFTED_TEXT = [
    "This story has been replaced. The site now shows a sponsored feature about kitchen gadgets, "
    "holiday recipes and a discount code for a subscription box that ships every month."
] * 3


def _article() -> str:
    links = "".join(
        f"<p>As documented in <a href='{u}'>source number {i} on the subject of the matter at hand</a>, "
        f"which the author read closely before writing this analysis of link rot.</p>"
        for i, u in enumerate([*CITED, DEAD])
    )
    return (
        "<!DOCTYPE html><html><head><title>Why links rot</title></head><body>"
        "<nav><a href='/'>Home</a></nav>"
        f"<article><h1>Why links rot</h1>{links}</article></body></html>"
    )


def _serve_originals(fw: FakeWeb) -> None:
    fw.add(ARTICLE, _article())
    fw.add(ALIVE, _doc("Annual report 2025", *_text("annual report")),
           headers={"ETag": '"annual-v1"', "Last-Modified": "Mon, 03 Nov 2025 10:00:00 GMT"})
    fw.add(DRIFT, _doc("Council vote", *_text("council vote")))
    fw.add(GONE, _doc("Statement 17", *_text("press statement")))
    fw.add(MOVED, _doc("A paper", *_text("research paper")))
    fw.add(SOFT, _doc("Story 12345", *_text("local story")))
    fw.add(HOME_SITE, _doc("Home Magazine", "Latest interviews, features and columns.",
                           "Subscribe to our newsletter for the week's best reads."))
    fw.add(HOMED, _doc("An interview", *_text("interview with a scientist")))


def _change_the_web(fw: FakeWeb) -> None:
    fw.add(DRIFT, _doc("Council vote", *DRIFTED_TEXT))
    fw.add(GONE, _doc("Gone", "Nothing here."), status=404)
    fw.add(MOVED, status=301, redirect=MOVED_TO)
    fw.add(MOVED_TO, _doc("A paper", *_text("research paper")))
    fw.add(SOFT, _doc("Page not found", "Sorry, we looked everywhere.", "Try the search box."))
    fw.add(HOMED, _doc("Home Magazine", "Latest interviews, features and columns.",
                       "Subscribe to our newsletter for the week's best reads."))


def run(*args: str) -> Any:
    return CliRunner().invoke(get_app(), list(args))


def run_json(*args: str) -> Any:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def web(web: FakeWeb, monkeypatch: pytest.MonkeyPatch) -> FakeWeb:
    _serve_originals(web)
    monkeypatch.setenv("CITEVAULT_PUBLIC_URL", BASE)
    monkeypatch.setenv("CITEVAULT_RETRIES", "0")
    return web


@dataclass
class Captured:
    fw: FakeWeb
    source_id: int
    captures: dict[str, dict[str, Any]]


@dataclass
class Original:
    """An archive captured once per module: its home directory and index."""

    home: Path
    db_url: str
    source_id: int
    captures: dict[str, dict[str, Any]]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def original(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Original]:
    """The article and its seven citations captured through the real `citevault add`, once per
    index kind (a capture takes seconds); each test checks a copy of it (`captured`)."""
    base = tmp_path_factory.mktemp("health-original")
    with FakeWeb() as fw, pytest.MonkeyPatch.context() as mp, contextlib.ExitStack() as stack:
        isolate_env(mp, base / "home")
        _serve_originals(fw)
        route_through(fw, mp)
        mp.setenv("CITEVAULT_PUBLIC_URL", BASE)
        mp.setenv("CITEVAULT_RETRIES", "0")
        url = (f"sqlite:///{base / 'index.db'}" if request.param == "sqlite"
               else stack.enter_context(pg_database()))
        mp.setenv("CITEVAULT_DATABASE_URL", url)
        doc = run_json("add", ARTICLE)
        src = doc["sources"][0]
        assert src["snapshot"]["state"] == "done"
        caps = {c["url"]: c for c in src["snapshot"]["captures"]}
        assert all(caps[u]["status"] == 200 and caps[u]["role"] == "cited" for u in CITED)
        assert caps[DEAD]["status"] == 404
        yield Original(base / "home", url, src["id"], caps)


@pytest.fixture
def captured(original: Original, web: FakeWeb, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Captured]:
    """A copy of the captured archive (WARC files and index) of this test's own."""
    shutil.copytree(original.home, os.environ["CITEVAULT_HOME"])
    with contextlib.ExitStack() as stack:
        if original.db_url.startswith("sqlite:"):
            url = f"sqlite:///{tmp_path / 'index.db'}"
            with contextlib.closing(sqlite3.connect(original.db_url.removeprefix("sqlite:///"))) as src, \
                    contextlib.closing(sqlite3.connect(tmp_path / "index.db")) as dst:
                src.backup(dst)
        else:
            url = stack.enter_context(pg_database(template=original.db_url))
        monkeypatch.setenv("CITEVAULT_DATABASE_URL", url)
        yield Captured(web, original.source_id, original.captures)


def _outcomes(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["url"]: c for s in doc["sources"] for c in s["checks"]}


def test_each_kind_of_rot_is_told_apart_and_kept_as_history(captured: Captured) -> None:
    fw, sid = captured.fw, captured.source_id
    fw.clear_requests()
    first = _outcomes(run_json("check", str(sid)))
    assert set(first) == {ARTICLE, *CITED, DEAD}
    assert first.pop(DEAD)["outcome"] == "gone"
    assert {c["outcome"] for c in first.values()} == {"alive"}, first
    # The cheap path: the archived ETag came back as If-None-Match, the origin said 304.
    assert first[ALIVE]["status"] == 304 and first[ALIVE]["similarity"] == 1.0
    conditional = [r for r in fw.requests if r.url == ALIVE and r.method == "GET"]
    assert conditional and conditional[-1].headers.get("if-none-match") == '"annual-v1"'
    assert first[DRIFT]["similarity"] == 1.0 and first[DRIFT]["status"] == 200

    _change_the_web(fw)
    second = _outcomes(run_json("check", str(sid)))
    assert second[ALIVE]["outcome"] == "alive"
    assert second[DRIFT]["outcome"] == "drifted"
    assert second[DRIFT]["similarity"] < 0.8 and second[DRIFT]["status"] == 200
    assert second[GONE]["outcome"] == "gone" and second[GONE]["status"] == 404
    assert second[MOVED]["outcome"] == "redirected" and second[MOVED]["final_url"] == MOVED_TO
    assert second[MOVED]["similarity"] == 1.0  # the same paper, at a new address
    assert second[SOFT]["outcome"] == "gone" and second[SOFT]["status"] == 200
    assert "soft 404" in second[SOFT]["detail"]
    assert second[HOMED]["outcome"] == "gone" and "home page" in second[HOMED]["detail"]
    assert second[ARTICLE]["outcome"] == "alive"

    third = _outcomes(run_json("check", str(sid)))
    assert {u: c["outcome"] for u, c in third.items()} == {u: c["outcome"] for u, c in second.items()}

    archive = Archive(Settings())
    try:
        with archive.index.session() as s:
            rows = s.scalars(select(LinkCheck).where(LinkCheck.source_id == sid)
                             .order_by(LinkCheck.id)).all()
        history: dict[str, list[LinkCheck]] = {}
        for lc in rows:
            history.setdefault(lc.url, []).append(lc)
        assert set(history) == {ARTICLE, *CITED, DEAD} and all(len(h) == 3 for h in history.values())
        assert [lc.outcome for lc in history[GONE]] == ["alive", "gone", "gone"]
        assert history[MOVED][1].final_url == MOVED_TO and history[MOVED][0].final_url is None

        report = report_source(archive, sid, BASE)
    finally:
        archive.close()
    cites = {c["url"]: c for c in report["citations"]}
    assert report["summary"] == {"alive": 2, "drifted": 1, "gone": 4, "redirected": 1}

    def iso(dt: datetime) -> str:
        return dt.isoformat(timespec="seconds") + "Z"

    # 'since' is the first check of the current streak.
    assert cites[ALIVE]["since"] == iso(history[ALIVE][0].checked_at)
    assert cites[GONE]["since"] == iso(history[GONE][1].checked_at)
    assert cites[DRIFT]["since"] == iso(history[DRIFT][1].checked_at) and cites[DRIFT]["checks"] == 3
    for url in CITED:
        ts = captured.captures[url]["timestamp"]
        assert cites[url]["archived"]["replay_url"] == f"{BASE}/web/{ts}/{url}"
    assert cites[ALIVE]["cite_instead"] is None
    # Gone since the first check, and the only archived copy is the 404 itself: nothing to cite.
    assert cites[DEAD]["since"] == iso(history[DEAD][0].checked_at)
    assert cites[DEAD]["archived"]["status"] == 404 and cites[DEAD]["cite_instead"] is None
    for url in (DRIFT, GONE, MOVED, SOFT, HOMED):
        assert cites[url]["cite_instead"] == cites[url]["archived"]["replay_url"]
    assert cites[ARTICLE]["role"] == "seed" and cites[GONE]["role"] == "cited"
    assert cites[GONE]["text"].startswith("source number 2")

    # The CLI prints the same report.
    assert run_json("report", str(sid)) == report
    assert run_json("report")["sources"] == [report]
    table = run("report", str(sid))
    assert table.exit_code == 0 and "drifted" in table.stdout and "redirected" in table.stdout


def test_report_and_check_over_http(captured: Captured) -> None:
    archive = Archive(Settings())
    app = create_app(archive.settings, archive)
    with TestClient(app) as client:
        before = client.get(f"/api/sources/{captured.source_id}/report").json()
        assert {c["outcome"] for c in before["citations"]} == {None}
        assert before["summary"] == {"unchecked": 8}
        _change_the_web(captured.fw)
        queued = client.post(f"/api/sources/{captured.source_id}/check")
        assert queued.status_code == 202  # a background job (see test_check_limits.py)
        deadline = time.monotonic() + 120
        while (ran := client.get(queued.json()["status_url"])).json()["state"] in ("queued", "running"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert ran.json()["state"] == "done"
        outcomes = {c["url"]: c["outcome"] for c in ran.json()["checks"]}
        assert outcomes[GONE] == "gone" and outcomes[DRIFT] == "drifted" and outcomes[ALIVE] == "alive"
        after = client.get(f"/api/sources/{captured.source_id}/report").json()
        assert {c["url"]: c["outcome"] for c in after["citations"]} == outcomes
        gone = next(c for c in after["citations"] if c["url"] == GONE)
        assert gone["cite_instead"].startswith(f"{BASE}/web/")
        assert client.get("/api/sources/999/report").status_code == 404
        assert client.post("/api/sources/999/check").status_code == 404

        create_token(app.state.archive.index, "editor")
        assert client.post(f"/api/sources/{captured.source_id}/check").status_code == 401
        assert client.get(f"/api/sources/{captured.source_id}/report").status_code == 200
    archive.close()


@pytest.mark.parametrize("original", ["sqlite"], indirect=True)
def test_check_all_sources_and_bad_ids(captured: Captured) -> None:
    doc = run_json("check")
    assert [s["id"] for s in doc["sources"]] == [captured.source_id]
    table = run("check")
    assert table.exit_code == 0 and "7 alive" in table.stdout and "1 gone" in table.stdout
    archive = Archive(Settings())
    try:
        seen: list[str] = []
        rows = check_source(archive, captured.source_id, lambda lc: seen.append(lc.url))
    finally:
        archive.close()
    assert sorted(seen) == sorted(lc.url for lc in rows) and rows[0].url == ARTICLE and rows[0].id
    missing = run("check", "42")
    assert missing.exit_code == 2 and "no source with id 42" in missing.stderr
    assert run("report", "42").exit_code == 2


# -- single URLs -------------------------------------------------------------------------------------
def _ref(url: str, text: str, title: str = "") -> Reference:
    return Reference(1, url, "20260101000000", 200, url, "text/html", title, text)


def test_non_html_is_checked_with_head_only(web: FakeWeb) -> None:
    pdf = "https://files.health.test/report.pdf"
    web.add(pdf, b"%PDF-1.7 fake", content_type="application/pdf")
    res = check_url(Settings(), pdf)
    assert (res.outcome, res.status) == ("alive", 200)
    assert web.hits(pdf, "HEAD") == 1 and web.hits(pdf, "GET") == 0
    web.add(pdf, b"", status=410, content_type="application/pdf")
    assert check_url(Settings(), pdf).outcome == "gone"
    assert web.hits(pdf, "GET") == 0


def test_errors_timeouts_and_server_failures(web: FakeWeb) -> None:
    broken = "https://broken.health.test/page"
    web.add(broken, "oops", status=503)
    res = check_url(Settings(), broken)
    assert (res.outcome, res.status, res.detail) == ("error", 503, "HTTP 503")
    web.add(broken, "late", delay=2)
    res = check_url(Settings(timeout=0.3), broken)
    assert res.outcome == "error" and "timed out" in (res.detail or "")
    web.add(broken, drop=True)
    assert check_url(Settings(), broken).outcome == "error"
    web.add(broken, status=302, redirect=broken)
    res = check_url(Settings(), broken)
    assert res.outcome == "error" and "redirects" in (res.detail or "")


def test_redirects_to_the_home_page_or_an_error_page_are_gone(web: FakeWeb) -> None:
    deep = "https://site.health.test/2024/01/some-story"
    web.add("https://site.health.test/", _doc("Site", "Welcome."))
    web.add(deep, status=301, redirect="/")
    res = check_url(Settings(), deep, _ref(deep, "The story text."))
    assert (res.outcome, res.final_url) == ("gone", "https://site.health.test/")
    web.add(deep, status=302, redirect="/errors/404.html")
    web.add("https://site.health.test/errors/404.html", _doc("Oh no", "Something odd happened."))
    assert check_url(Settings(), deep, _ref(deep, "The story text.")).outcome == "gone"
    # A redirect that moves nothing (https, trailing slash) is not news.
    web.add(deep, status=301, redirect=deep + "/")
    web.add(deep + "/", _doc("Story", "The story text."))
    res = check_url(Settings(), deep, _ref(deep, "Story The story text."))
    assert res.outcome == "alive" and res.final_url == deep + "/"


def test_parked_domain_is_gone(web: FakeWeb) -> None:
    url = "https://expired.health.test/blog/post"
    web.add(url, "<html><head><title>expired.health.test</title></head><body><h2>This domain may be "
                 "for sale!</h2><p>Related searches</p></body></html>")
    res = check_url(Settings(), url, _ref(url, "A long blog post about birds."))
    assert res.outcome == "gone" and "parked" in (res.detail or "")


def test_dns_failure_is_gone_without_a_proxy() -> None:
    res = check_url(Settings(), "https://no-such-host.invalid/page")
    assert res.outcome == "gone" and "does not resolve" in (res.detail or "")


def test_private_addresses_are_refused_unless_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeWeb() as fw:
        url = f"http://127.0.0.1:{fw.port}/private"
        fw.add(url, _doc("Private", "Internal page."))
        res = check_url(Settings(), url)
        assert res.outcome == "error" and "loopback" in (res.detail or "")
        assert fw.hits(url) == 0
        res = check_url(Settings(), f"http://localhost:{fw.port}/private")
        assert res.outcome == "error" and "refused" in (res.detail or "")
        # Through a proxy, IP literals are still checked.
        for k, v in fw.proxy_env().items():
            monkeypatch.setenv(k, v)
        assert check_url(Settings(), "http://10.1.2.3/x").outcome == "error"
        assert check_url(Settings(), f"http://localhost:{fw.port}/private").outcome == "error"
        assert fw.hits("http://10.1.2.3/x") == 0 and fw.hits(f"http://localhost:{fw.port}/private") == 0
        fw.add("http://public.health.test/x", _doc("Public", "Fine."))
        assert check_url(Settings(), "http://public.health.test/x").outcome == "alive"  # the proxy resolves
        monkeypatch.setenv("CITEVAULT_ALLOW_PRIVATE_NETWORKS", "1")
        res = check_url(Settings(), url)
        assert res.outcome == "alive" and fw.hits(url) >= 1


def test_user_agent_is_sent(web: FakeWeb) -> None:
    web.add("https://ua.health.test/", _doc("UA", "Hello."))
    check_url(Settings(user_agent="citevault-test/1"), "https://ua.health.test/")
    assert {r.headers.get("user-agent") for r in web.requests if r.url == "https://ua.health.test/"} == {
        "citevault-test/1"
    }


# -- the pure functions ------------------------------------------------------------------------------
ESSAY = (
    "The Senate approved the Clean Water Infrastructure Act late on Monday, sending to the House a "
    "measure that would replace every remaining lead service line within ten years. Eleven Republicans "
    "joined all Democrats in support, according to the official roll call. Supporters described the "
    "vote as overdue: federal figures show that roughly nine million homes still receive water through "
    "lead pipes, most of them in older cities of the Northeast and Midwest. Critics said utilities could "
    "not hire enough licensed plumbers to meet the deadline, and an industry trade group estimated the "
    "labour shortage at forty thousand workers. An independent report put the cost at two hundred and "
    "twelve billion dollars over the decade, far less than the projected health costs of inaction. The "
    "House is expected to take up the bill before the Thanksgiving recess, although its leaders have "
    "not said whether they will allow amendments from the floor or send it to committee first."
)


def test_text_similarity() -> None:
    text = ESSAY
    assert text_similarity(text, text) == 1.0
    assert text_similarity(text, text.upper().replace(" ", "\n  ")) == 1.0  # case and spacing
    edited = text.replace("Senate", "upper chamber").replace("House", "lower chamber")
    assert 0.9 < text_similarity(text, edited) < 1.0
    assert text_similarity(text, text + " Updated on Tuesday with a correction.") > 0.95
    assert text_similarity(text, " ".join(DRIFTED_TEXT)) < 0.2
    assert 0.6 < text_similarity(text, text[: len(text) // 2]) < 0.7  # 2M/T: half kept is 2/3
    assert text_similarity("", "") == 1.0 and text_similarity("words", "") == 0.0


@pytest.mark.parametrize(
    ("title", "heading", "text"),
    [
        ("Page not found | The Ledger", "", "Try searching."),
        ("404", "", ""),
        ("The Ledger", "Oops! That page can't be found.", "Maybe try a search?"),
        ("The Ledger", "", "Sorry, the page you requested could not be found. Go home."),
        ("The Ledger", "", "This article is no longer available."),
        ("The Ledger", "", "We can't find that page. It may have been removed."),
    ],
)
def test_soft_404_pages(title: str, heading: str, text: str) -> None:
    assert soft_404_reason(title, heading, text) is not None


def test_not_soft_404() -> None:
    assert soft_404_reason("Council vote", "Council vote", " ".join(_text("vote"))) is None
    # A long article that mentions "page not found" in passing is an article.
    long = " ".join(_text("web errors", 10)) + " Readers saw a page not found error."
    assert soft_404_reason("Why links rot", "Why links rot", long) is None
    # Wording the archived copy had already does not count.
    title = "How to fix 404 not found errors"
    assert soft_404_reason(title, "", "Short tips.", archived=f"{title} Short tips.") is None


def test_parked_and_home_detection() -> None:
    assert parked_reason("https://x.test/", "x.test", "Buy this domain today") is not None
    assert parked_reason("https://ww38.sedoparking.com/?x", "", "") is not None
    assert parked_reason("https://x.test/", "Birds", "A post about the domain of birds.") is None
    assert all(is_home_url(u) for u in ("https://a.test", "https://a.test/", "https://a.test/index.html",
                                          "https://a.test/en/", "https://a.test/home"))
    assert not any(is_home_url(u) for u in ("https://a.test/story/1", "https://a.test/?p=12",
                                              "https://a.test/news/"))


def test_read_page_uses_the_main_text_and_the_http_charset() -> None:
    html = _doc("Título", "Año nuevo en la ciudad.").encode("latin-1", "replace").replace(
        b"<meta charset='utf-8'>", b""
    )
    page = read_page(html, "text/html; charset=iso-8859-1", "https://a.test/x")
    assert page is not None and page.title == "Título" and "Año nuevo" in page.text
    assert "Copyright" not in page.text and "About" not in page.text  # footer and nav left out
    assert read_page(b"\x89PNG", "image/png", "https://a.test/i.png") is None
    assert read_page(b"plain words", "text/plain", "https://a.test/t.txt").text == "plain words"  # type: ignore[union-attr]
