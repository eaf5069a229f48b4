"""Citations of a captured source: Robust Links HTML, Markdown, text, BibTeX; CLI `cite`; the API."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from citevault.archive import Archive
from citevault.citations import Citation, cite, is_error_title, render, replay_url, source_citations
from citevault.cli import get_app
from citevault.config import Settings
from citevault.storage.errors import BadInput, NotFound
from citevault.storage.models import Capture
from citevault.web import create_app
from tests.fakeweb import FakeWeb, NewsSite, build_news_site

BASE = "https://archive.example.org"
ODD_TITLE = "Costs & {benefits} of 100% <clean> water_act #2"
OWN = "https://cite-test.example"
GONE_ANCHOR = "an earlier analysis published by an industry trade group"  # the news site's 404 link
SOFT_ANCHOR = "the county's water quality report"


@dataclass
class Archived:
    home: Path
    settings: Settings
    site: NewsSite
    article_id: int  # the news article, captured twice (the second time as revisits)
    odd_id: int  # a page with an awkward title citing a URL that never answers and a soft 404
    first_snapshot: int


@pytest.fixture(scope="module")
def archived(fakeweb: FakeWeb, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archived]:
    home = tmp_path_factory.mktemp("cite-home")
    site = build_news_site(fakeweb)
    title = ODD_TITLE.replace("&", "&amp;").replace("<", "&lt;")
    fakeweb.add(f"{OWN}/odd", f"<html><head><title>{title}</title></head><body><article><p>We rely "
                "on <a href='/dropped'>a source that never answers any request at all, however long "
                "we wait for it</a> here, and on <a href='/soft-404'>the county's water quality\n "
                "report</a> as published.</p></article></body></html>")
    fakeweb.add(f"{OWN}/dropped", drop=True)
    fakeweb.add(f"{OWN}/soft-404", "<html><head><title>Page Not Found | County</title></head>"
                "<body><h1>We could not find that page.</h1></body></html>")  # answers 200
    with pytest.MonkeyPatch.context() as mp:
        for k, v in fakeweb.proxy_env().items():
            mp.setenv(k, v)
        mp.setenv("CITEVAULT_ALLOW_PRIVATE_NETWORKS", "1")
        settings = Settings(home=home, public_url=BASE, retries=0, timeout=5)
        archive = Archive(settings)
        first = archive.queue([site.article, f"{OWN}/odd"])
        archive.capture(first)
        second = archive.requeue(first[0].source_id)
        archive.capture([second])
        archive.close()
    yield Archived(home, settings, site, first[0].source_id, first[1].source_id, first[0].snapshot_id)


@pytest.fixture
def archive(archived: Archived) -> Iterator[Archive]:
    a = Archive(archived.settings)
    yield a
    a.close()


def by_url(cites: list[Citation]) -> dict[str, Citation]:
    return {c.url: c for c in cites}


def test_article_first_then_each_cited_source_with_its_newest_copy(
    archived: Archived, archive: Archive
) -> None:
    cites = source_citations(archive, archived.article_id, BASE)
    article, cited = cites[0], cites[1:]
    site = archived.site
    assert article.kind == "article" and article.url == site.article
    assert article.title.startswith(site.title)
    assert article.copy is not None and article.copy.usable
    # The second capture of the article is a revisit: it is the newest copy, and its title and
    # links still come through.
    with archive.index.session() as s:
        cap = s.get(Capture, article.copy.capture_id)
        assert cap is not None and cap.snapshot_id != archived.first_snapshot
        assert cap.record_type == "revisit"
    urls = [c.url for c in cited]
    assert all(c.kind == "cited" for c in cited)
    assert [u for u in urls if u in site.cited] == site.cited  # in the article's order
    assert set(site.tweet_links) <= set(urls)
    assert len(urls) == len(set(urls))
    # Titles come from the archived pages.
    gov = by_url(cites)[site.gov_page]
    assert gov.copy is not None and "EPA" in gov.title and gov.anchor_text
    # Every replay URL names a capture that is in the archive at exactly that time.
    for c in cites:
        if c.copy is not None:
            assert c.copy.replay_url == replay_url(BASE, c.copy.timestamp, c.copy.url)
            assert c.copy.replay_url == f"{BASE}/web/{c.copy.timestamp}/{c.copy.url}"
            got, _ = archive.get(c.copy.url, c.copy.timestamp)
            assert got.timestamp == c.copy.timestamp


def test_redirects_resolve_to_the_final_capture(archived: Archived, archive: Archive) -> None:
    site = archived.site
    short = by_url(source_citations(archive, archived.article_id, BASE))[site.shortener]
    assert short.copy is not None and short.copy.url == site.redirect_chain[-1]
    assert short.copy.status == 200 and short.copy.usable
    assert short.copy.replay_url == f"{BASE}/web/{short.copy.timestamp}/{site.redirect_chain[-1]}"
    assert "Statistics" in short.title or "Table" in short.title


def test_dead_and_unanswered_links_carry_no_version(archived: Archived, archive: Archive) -> None:
    gone = by_url(source_citations(archive, archived.article_id, BASE))[archived.site.not_found]
    assert gone.copy is not None and gone.copy.status == 404 and not gone.copy.usable
    assert "404" in (gone.reason or "")
    odd = source_citations(archive, archived.odd_id, BASE)
    assert odd[0].title == ODD_TITLE
    dropped = odd[1]
    assert dropped.url == f"{OWN}/dropped" and dropped.copy is None
    assert dropped.reason and dropped.reason.startswith("not archived:")
    html = render(odd, "robust-html")
    anchors = lxml.html.fragment_fromstring(html, create_parent="div").findall(".//a")
    assert anchors[1].get("href") == f"{OWN}/dropped" and anchors[1].get("data-versionurl") is None


def test_robust_links_html(archived: Archived, archive: Archive) -> None:
    cites = source_citations(archive, archived.article_id, BASE)
    html = cite(archive, archived.article_id, "robust-html", BASE)
    anchors = lxml.html.fragment_fromstring(html, create_parent="div").findall(".//a")
    assert len(anchors) == len(cites)
    for a, c in zip(anchors, cites, strict=True):
        assert a.get("href") == c.url and a.text_content() == c.title
        if c.copy is None or not c.copy.usable:
            assert a.get("data-versionurl") is None
            continue
        assert a.get("data-originalurl") == c.url
        assert a.get("data-versionurl") == c.copy.replay_url
        ts = c.copy.timestamp
        assert a.get("data-versiondate") == f"{ts[:4]}-{ts[4:6]}-{ts[6:8]}"
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", a.get("data-versiondate"))
    # The article stands alone; what it cites is a list.
    assert html.startswith("<a ") and "<ul>" in html


def test_markdown_and_text(archived: Archived, archive: Archive) -> None:
    cites = source_citations(archive, archived.article_id, BASE)
    md = render(cites, "markdown")
    for c in cites:
        if c.copy is not None and c.copy.usable:
            assert f"]({c.url}) ([archived {c.copy.date}]({c.copy.replay_url}))" in md
    gone = by_url(cites)[archived.site.not_found]
    assert f"]({gone.url}) (the page answered HTTP 404" in md
    text = render(cites, "text")
    lines = text.splitlines()
    assert lines[0].startswith(cites[0].title) and cites[0].copy is not None
    assert lines[0].endswith(f"Archived {cites[0].copy.date} at {cites[0].copy.replay_url}")
    assert sum(1 for ln in lines if re.match(r"\d+\. ", ln)) == len(cites) - 1
    odd = render(source_citations(archive, archived.odd_id, BASE), "markdown")
    assert odd.startswith(r"[Costs & {benefits} of 100% \<clean\> water\_act #2](https://cite-test.example/odd)")


def _bib_entries(text: str) -> list[dict[str, str]]:
    entries = []
    for block in text.strip().split("\n\n"):
        head, *fields, tail = block.splitlines()
        assert re.fullmatch(r"@misc\{[\w:-]+,", head) and tail == "}"
        entry = {"key": head[6:-1]}
        for f in fields:
            m = re.fullmatch(r"  (\w+) = \{(.*)\},?", f)
            assert m, f
            entry[m.group(1)] = m.group(2)
        entries.append(entry)
    return entries


def _balanced(s: str) -> bool:
    depth = 0
    for i, ch in enumerate(s):
        if ch in "{}" and i and s[i - 1] == "\\":
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def test_bibtex(archived: Archived, archive: Archive) -> None:
    cites = source_citations(archive, archived.article_id, BASE)
    text = cite(archive, archived.article_id, "bibtex", BASE)
    entries = _bib_entries(text)
    assert len(entries) == len(cites)
    assert len({e["key"] for e in entries}) == len(entries)
    for e, c in zip(entries, cites, strict=True):
        assert e["url"] == c.url
        assert c.copy is not None
        if not c.copy.usable:  # see test_dead_links_are_cited_by_anchor_text_in_every_format
            assert "howpublished" not in e and "urldate" not in e
            continue
        assert e["urldate"] == c.copy.date
        assert e["howpublished"] == r"\url{" + c.copy.replay_url.replace("%", r"\%") + "}"
        assert e["note"].startswith("Archived copy captured " + c.copy.date)
    short = entries[[c.url for c in cites].index(archived.site.shortener)]
    assert f"redirected to {archived.site.redirect_chain[-1]}" in short["note"]
    odd = _bib_entries(cite(archive, archived.odd_id, "bibtex", BASE))
    assert odd[0]["title"] == r"{Costs \& \{benefits\} of 100\% <clean> water\_act \#2}"
    assert "howpublished" not in odd[1] and odd[1]["note"].startswith("not archived:")
    assert all(_balanced(v) for e in odd for v in e.values())


def test_dead_links_are_cited_by_anchor_text_in_every_format(
    archived: Archived, archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cited page that answered 404 is titled by the article's anchor text, not by its error page,
    and no format offers the archived error page as the archived copy."""
    cites = source_citations(archive, archived.article_id, BASE)
    gone = by_url(cites)[archived.site.not_found]
    assert gone.copy is not None and gone.copy.status == 404
    assert gone.title == GONE_ANCHOR == gone.anchor_text
    assert gone.reason == f"the page answered HTTP 404 when it was captured on {gone.copy.date}"
    replay = gone.copy.replay_url
    # robust-html: a plain link, no version.
    html = render(cites, "robust-html")
    anchors = lxml.html.fragment_fromstring(html, create_parent="div").findall(".//a")
    a = next(a for a in anchors if a.get("href") == gone.url)
    assert a.text_content() == GONE_ANCHOR and a.get("data-versionurl") is None
    # markdown and text: the anchor text, the status, and no replay URL.
    md = render(cites, "markdown")
    assert f"- [{GONE_ANCHOR}]({gone.url}) ({gone.reason})\n" in md
    text = render(cites, "text")
    assert re.search(rf"^\d+\. {GONE_ANCHOR}\. {re.escape(gone.url)}\. \({gone.reason}\)$", text, re.M)
    # bibtex: no howpublished/urldate, and the note says why.
    entry = next(e for e in _bib_entries(render(cites, "bibtex")) if e["url"] == gone.url)
    assert entry["title"] == "{" + GONE_ANCHOR + "}"
    assert "howpublished" not in entry and "urldate" not in entry
    assert entry["note"] == f"{gone.reason}; the archived error page is not cited"
    for fmt in ("robust-html", "markdown", "text", "bibtex"):
        out = render(cites, fmt)
        assert replay not in out and "Page not found" not in out and "404 Not Found" not in out
    # The CLI prints the same.
    result = run(archived, monkeypatch, "cite", str(archived.article_id), "--format", "text")
    assert result.exit_code == 0 and f". {GONE_ANCHOR}. {gone.url}. (" in result.stdout
    # JSON still lists the copy, marked unusable.
    doc = gone.as_json()
    assert doc["title"] == GONE_ANCHOR and doc["archived"]["usable"] is False


def test_soft_404_pages_are_cited_by_anchor_text(archived: Archived, archive: Archive) -> None:
    """A page that answered 200 with an error page's title is not titled by it either."""
    soft = by_url(source_citations(archive, archived.odd_id, BASE))[f"{OWN}/soft-404"]
    assert soft.copy is not None and soft.copy.status == 200 and soft.copy.usable
    assert soft.title == SOFT_ANCHOR  # whitespace of the anchor collapsed
    for title in ("404 Not Found", "Page not found | The Daily Ledger", "Error 404", "Just a moment...",
                  "HTTP 500 Internal Server Error", "Site \u2013 Page Not Found", "410 Gone"):
        assert is_error_title(title), title
    for title in ("Senate passes sweeping clean water bill | The Daily Ledger", "Why 404 pages matter",
                  "500 ways to cook rice", "EPA: Safe Drinking Water Act", ODD_TITLE):
        assert not is_error_title(title), title


def test_bad_format_and_unknown_source(archived: Archived, archive: Archive) -> None:
    with pytest.raises(BadInput, match="unknown citation format 'apa'"):
        cite(archive, archived.article_id, "apa", BASE)
    with pytest.raises(NotFound, match="no source with id 999"):
        cite(archive, 999, "text", BASE)


# -- CLI -----------------------------------------------------------------------------------------------
def run(archived: Archived, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    monkeypatch.setenv("CITEVAULT_HOME", str(archived.home))
    monkeypatch.setenv("CITEVAULT_PUBLIC_URL", BASE)
    return CliRunner().invoke(get_app(), list(args))


def test_cli_cite(archived: Archived, archive: Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    for fmt in ("robust-html", "markdown", "text", "bibtex"):
        result = run(archived, monkeypatch, "cite", str(archived.article_id), "--format", fmt)
        assert result.exit_code == 0, result.stderr
        assert result.stdout == cite(archive, archived.article_id, fmt, BASE)
    default = run(archived, monkeypatch, "cite", str(archived.article_id))
    assert default.stdout.startswith('<a href="') and "data-versionurl=" in default.stdout
    doc = run(archived, monkeypatch, "cite", str(archived.article_id), "--json")
    assert doc.exit_code == 0
    parsed = json.loads(doc.stdout)
    assert parsed["citations"][0]["kind"] == "article"
    assert parsed["citations"][0]["archived"]["replay_url"].startswith(f"{BASE}/web/")


def test_cli_cite_errors(archived: Archived, monkeypatch: pytest.MonkeyPatch) -> None:
    unknown = run(archived, monkeypatch, "cite", "999")
    assert unknown.exit_code == 2 and unknown.stdout == ""
    assert unknown.stderr == "citevault: error: no source with id 999\n"
    bad = run(archived, monkeypatch, "cite", str(archived.article_id), "--format", "apa")
    assert bad.exit_code == 2 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and "unknown citation format 'apa'" in bad.stderr


# -- API -----------------------------------------------------------------------------------------------
def test_api_cite(archived: Archived, archive: Archive) -> None:
    with TestClient(create_app(archived.settings)) as client:
        r = client.get(f"/api/sources/{archived.article_id}/cite", params={"format": "bibtex"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-bibtex")
        assert r.text == cite(archive, archived.article_id, "bibtex", BASE)
        r = client.get(f"/api/sources/{archived.article_id}/cite")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert r.text == cite(archive, archived.article_id, "robust-html", BASE)
        for fmt, media in (("markdown", "text/markdown"), ("text", "text/plain")):
            r = client.get(f"/api/sources/{archived.article_id}/cite", params={"format": fmt})
            assert r.status_code == 200 and r.headers["content-type"].startswith(media)
        r = client.get(f"/api/sources/{archived.article_id}/cite", params={"format": "json"})
        assert r.json()["citations"][0]["url"] == archived.site.article
        r = client.get(f"/api/sources/{archived.article_id}/cite", params={"format": "apa"})
        assert r.status_code == 400 and "unknown citation format" in r.json()["error"]
        r = client.get("/api/sources/999/cite")
        assert r.status_code == 404 and r.json() == {"error": "no source with id 999"}


def test_api_cite_uses_the_request_address_without_public_url(archived: Archived) -> None:
    settings = archived.settings.model_copy(update={"public_url": None})
    with TestClient(create_app(settings)) as client:
        r = client.get(f"/api/sources/{archived.article_id}/cite", params={"format": "json"})
    replay = r.json()["citations"][0]["archived"]["replay_url"]
    assert replay.startswith("http://testserver/web/")

