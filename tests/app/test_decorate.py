"""`citevault decorate`: archive every link of an HTML or Markdown document and decorate it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from citevault.archive import Archive
from citevault.cli import get_app
from citevault.config import Settings
from citevault.decorate import find_links
from citevault.storage.models import Capture, Snapshot, Source
from tests.fakeweb import FakeWeb, NewsSite

BASE = "https://archive.example.org"
DEAD = "https://decorate-test.example/never-answers"


@pytest.fixture
def web(news: NewsSite, fakeweb: FakeWeb, monkeypatch: pytest.MonkeyPatch) -> NewsSite:
    fakeweb.add(DEAD, drop=True)
    monkeypatch.setenv("CITEVAULT_PUBLIC_URL", BASE)
    monkeypatch.setenv("CITEVAULT_RETRIES", "0")
    return news


def run(*args: str) -> Any:
    return CliRunner().invoke(get_app(), list(args))


def sources(home: Path) -> list[tuple[Source, list[Capture]]]:
    archive = Archive(Settings(home=home))
    out = []
    with archive.index.session() as s:
        for src in s.scalars(select(Source).order_by(Source.id)):
            caps = list(s.scalars(select(Capture).join(Snapshot, Capture.snapshot_id == Snapshot.id)
                                  .where(Snapshot.source_id == src.id)))
            out.append((src, caps))
    archive.close()
    return out


def replay_of(home: Path, url: str) -> str:
    """The replay URL of the newest final capture of `url` (redirects followed)."""
    archive = Archive(Settings(home=home))
    with archive.index.session() as s:
        cap = s.scalars(select(Capture).where(Capture.url == url, Capture.warc.is_not(None))
                        .order_by(Capture.id.desc())).first()
        assert cap is not None, url
        while cap.redirect_to:
            cap = s.scalars(select(Capture).where(Capture.parent_id == cap.id)).one()
    archive.close()
    return f"{BASE}/web/{cap.timestamp}/{cap.url}"


def test_markdown(web: NewsSite, home: Path, tmp_path: Path) -> None:
    site = web
    code = f"```\n{site.slow_page}\n```\n"
    text = (
        "# Notes on the water bill\n\n"
        f"The [EPA statement]({site.gov_page} \"EPA\") and <{site.gzip_page}>; the survey tables "
        f"are at {site.shortener}.\nA dead link: [gone]({DEAD}). "
        "Logo: ![logo](https://www.dailyledger.test/static/img/hero.jpg)\n\n"
        f"{code}\nInline code `{site.youtube}` is not a link.\n"
    )
    src, out = tmp_path / "notes.md", tmp_path / "out.md"
    src.write_text(text)
    result = run("decorate", str(src), "-o", str(out), "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    states = {ln["url"]: ln["state"] for ln in doc["links"]}
    assert states == {site.gov_page: "decorated", site.gzip_page: "decorated",
                      site.shortener: "decorated", DEAD: "failed"}
    assert src.read_text() == text  # -o leaves the input alone
    gov, wire = replay_of(home, site.gov_page), replay_of(home, site.gzip_page)
    short = replay_of(home, site.shortener)
    assert short.endswith("/" + site.redirect_chain[-1])  # the page the shortener leads to
    expected = (
        "# Notes on the water bill\n\n"
        f"The [EPA statement]({site.gov_page} \"EPA\") ([archived]({gov})) and <{site.gzip_page}> "
        f"([archived]({wire})); the survey tables are at {site.shortener} ([archived]({short})).\n"
        f"A dead link: [gone]({DEAD}). Logo: ![logo](https://www.dailyledger.test/static/img/hero.jpg)\n\n"
        f"{code}\nInline code `{site.youtube}` is not a link.\n"
    )
    assert out.read_text() == expected
    # Each link became a depth-0 source: the page and its requisites, nothing it cites.
    rows = sources(home)
    assert sorted(src.url for src, _ in rows) == sorted([site.gov_page, site.gzip_page, site.shortener, DEAD])
    assert all(src.depth == 0 and "notes.md" in (src.note or "") for src, _ in rows)
    gov_caps = next(caps for src, caps in rows if src.url == site.gov_page)
    assert not [c for c in gov_caps if c.role == "cited"]
    assert set(site.cited_requisites[site.gov_page]) <= {c.url for c in gov_caps if c.role == "requisite"}


def test_html_in_place_then_again(web: NewsSite, home: Path, tmp_path: Path) -> None:
    site = web
    page = tmp_path / "page.html"
    original = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>Bill – notes</title></head>\n"
        f"<body><p>See <a href=\"{site.gov_page}\" class=\"cite\">the statement</a> and "
        f"<a href=\"{site.gzip_page}\">the tally</a>, <a href=\"local.html\">here</a> or "
        "<a href=\"mailto:desk@example.org\">write</a>.</p></body></html>\n"
    )
    page.write_text(original)
    result = run("decorate", str(page))
    assert result.exit_code == 0, result.stderr
    assert "2 of 2 links decorated" in result.stderr
    decorated = page.read_text()
    root = lxml.html.document_fromstring(decorated)
    anchors = {a.get("href"): a for a in root.iter("a")}
    for url in (site.gov_page, site.gzip_page):
        a = anchors[url]
        replay = replay_of(home, url)
        assert a.get("data-originalurl") == url and a.get("data-versionurl") == replay
        ts = replay.split("/web/")[1][:14]
        assert a.get("data-versiondate") == f"{ts[:4]}-{ts[4:6]}-{ts[6:8]}"
    assert anchors[site.gov_page].get("class") == "cite"
    for href in ("local.html", "mailto:desk@example.org"):
        assert anchors[href].attrib == {"href": href}
    assert root.findtext(".//title") == "Bill – notes"
    assert decorated.startswith("<!DOCTYPE html>\n") and decorated.endswith("</html>\n")
    # Run again: every link already carries its archived copy; nothing is captured again.
    again = run("decorate", str(page), "--json")
    assert again.exit_code == 0, again.stderr
    assert {ln["state"] for ln in json.loads(again.stdout)["links"]} == {"skipped"}
    assert page.read_text() == decorated
    assert len(sources(home)) == 2


def test_every_capture_failed(web: NewsSite, tmp_path: Path) -> None:
    doc = tmp_path / "dead.md"
    doc.write_text(f"Only [a dead link]({DEAD}).\n")
    result = run("decorate", str(doc))
    assert result.exit_code == 1
    assert f"failed: {DEAD}" in result.stderr
    assert "none of the 1 links" in result.stderr.splitlines()[-1]
    assert doc.read_text() == f"Only [a dead link]({DEAD}).\n"


def test_bad_input_changes_nothing(web: NewsSite, home: Path, fakeweb: FakeWeb, tmp_path: Path) -> None:
    txt = tmp_path / "notes.txt"
    txt.write_text(web.gov_page)
    md = tmp_path / "notes.md"
    md.write_text(f"[x]({web.gov_page})\n")
    cases = [
        (("decorate", str(txt)), "unsupported file type .txt"),
        (("decorate", str(tmp_path / "missing.md")), "cannot read"),
        (("decorate", str(md), "-o", str(tmp_path / "no" / "out.md")), "cannot write"),
        (("decorate", str(md), "-o", str(tmp_path)), "is a directory"),
    ]
    for args, message in cases:
        result = run(*args)
        assert result.exit_code == 2, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert fakeweb.hits(web.gov_page) == 0
    assert not (home / "warcs").exists()
    assert md.read_text() == f"[x]({web.gov_page})\n"


def test_markdown_link_forms() -> None:
    text = (
        "[a](https://a.test/x_(y)) [b](<https://b.test/with space>) [c][ref] [d][] "
        "![img](https://img.test/i.png) [![badge](https://img.test/b.svg)](https://badge.test/) "
        "see https://bare.test/path?q=1, (https://paren.test/x) https://wiki.test/A_(b). "
        "`https://code.test/` <https://auto.test/> [rel](/local) mailto:me@x.test\n\n"
        "  [ref]: https://ref.test/ \"Title\"\n[d]: <https://d.test/>\n"
        "[done](https://done.test/) ([archived](https://archive.example.org/web/1/https://done.test/))\n"
        "~~~\nhttps://fenced.test/\n~~~\n<!-- https://comment.test/ -->\n"
    )
    assert find_links(text, "markdown") == [
        "https://a.test/x_(y)", "https://b.test/with space", "https://ref.test/", "https://d.test/",
        "https://badge.test/", "https://bare.test/path?q=1", "https://paren.test/x",
        "https://wiki.test/A_(b)", "https://auto.test/", "https://done.test/",
    ]


def test_html_links_resolve_against_base() -> None:
    html = ('<html><head><base href="https://base.test/dir/"></head><body>'
            '<a href="page.html">p</a><a href="https://abs.test/">a</a><a href="#top">t</a>'
            '<a name="x">no href</a></body></html>')
    assert find_links(html, "html") == ["https://base.test/dir/page.html", "https://abs.test/"]
