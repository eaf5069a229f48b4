"""Full-text search over archived pages on SQLite (FTS5) and PostgreSQL (tsvector + GIN): a phrase
from a cited page's body, ranking, highlighted snippets, filters by URL prefix, host, date and
role; `reindex` rebuilds the search index from the WARC files alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from citevault.archive import Archive
from citevault.cli import get_app
from citevault.config import Settings
from citevault.storage.errors import BadInput
from citevault.storage.search import SearchHit, SearchQuery, search
from tests.fakeweb import NewsSite

PHRASE = '"bipartisan vote brings us closer"'


def _capture(news: NewsSite, home: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("CITEVAULT_DATABASE_URL", db_url)
    settings = Settings(home=home, retries=0, timeout=5)
    with Archive(settings) as archive:
        archive.capture(archive.queue([news.article]))
    return settings


def _search(settings: Settings, q: str, **kw: object) -> list[SearchHit]:
    with Archive(settings) as archive, archive.index.session() as s:
        return search(s, SearchQuery(q=q, **kw))  # type: ignore[arg-type]


def _marked(hit: SearchHit) -> list[str]:
    return [hit.snippet[a:b] for a, b in hit.highlights]


def test_search(news: NewsSite, home: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _capture(news, home, db_url, monkeypatch)
    epa = news.gov_page
    # A phrase from the body of a cited page: that page, first, with the phrase marked.
    hits = _search(settings, PHRASE)
    assert [h.url for h in hits] == [epa]
    top = hits[0]
    assert top.role == "cited" and top.status == 200 and top.kind == "html"
    assert top.title == "Statement on Senate Passage of the Clean Water Infrastructure Act"
    assert [w.lower() for w in _marked(top)] == ["bipartisan", "vote", "brings", "us", "closer"] or (
        " ".join(_marked(top)).lower() == "bipartisan vote brings us closer")
    # Ranking: the page whose title and text are about the words comes first.
    ranked = _search(settings, "the cost of clean water")
    assert ranked and ranked[0].url == news.slow_page
    words = _search(settings, "lead service lines")
    assert len(words) >= 2 and len({h.url for h in words}) == len(words)
    assert all(h.highlights for h in words)
    # Filters: URL prefix, host (subdomains too), role, capture time.
    water = _search(settings, "water")
    assert {news.article, epa} <= {h.url for h in water}
    assert [h.url for h in _search(settings, "water", url="https://www.epa.test/newsroom/")] == [epa]
    assert [h.url for h in _search(settings, "water", url="epa.test")] == [epa]
    assert {h.url for h in _search(settings, "water", role="seed")} == {news.article}
    stamp = top.timestamp
    assert _search(settings, PHRASE, since=stamp[:8], until=stamp[:8])[0].url == epa
    assert _search(settings, PHRASE, since=str(int(stamp[:4]) + 1)) == []
    assert _search(settings, PHRASE, until="2000") == []
    assert _search(settings, "water", limit=1)[0].url == water[0].url
    # Operators and odd characters are words, never syntax errors.
    assert _search(settings, 'water" OR NEAR(* -"') is not None
    assert _search(settings, "zzzunheardofword") == []
    for bad in ({"q": "  "}, {"q": "water", "since": "yesterday"}, {"q": "water", "role": "boss"},
                {"q": "water", "limit": 0}):
        with pytest.raises(BadInput):
            _search(settings, **bad)  # type: ignore[arg-type]


def test_reindex_rebuilds_search(news: NewsSite, home: Path, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _capture(news, home, f"sqlite:///{tmp_path / 'first.db'}", monkeypatch)
    before = [(h.url, h.title, h.snippet) for h in _search(settings, "water")]
    # A fresh, empty index over the same WARC files.
    monkeypatch.setenv("CITEVAULT_DATABASE_URL", f"sqlite:///{tmp_path / 'second.db'}")
    result = CliRunner().invoke(get_app(), ["reindex", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["pages"] >= 10
    fresh = Settings(home=home)
    after = [(h.url, h.title, h.snippet) for h in _search(fresh, "water")]
    assert sorted(after) == sorted(before)
    assert _search(fresh, PHRASE)[0].url == news.gov_page
    again = CliRunner().invoke(get_app(), ["reindex", "--json"])
    assert json.loads(again.stdout)["pages"] == 0  # idempotent
