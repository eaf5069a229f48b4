"""Citations use the archived pages' metadata: the tests' article (author, date, site) and a tweet
(author, handle, text) in every format; a 404 page is never presented as the source."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from citevault.archive import Archive
from citevault.citations import FORMATS, Citation, render, source_citations
from citevault.config import Settings
from tests.fakeweb import FakeWeb, NewsSite, build_news_site

BASE = "https://archive.example.org"
TWEET_TEXT = "Today the Senate voted to guarantee clean, safe drinking water for every community."


@dataclass
class Cited:
    site: NewsSite
    cites: list[Citation]


@pytest.fixture(scope="module")
def cited(fakeweb: FakeWeb, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cited]:
    home: Path = tmp_path_factory.mktemp("meta-home")
    site = build_news_site(fakeweb)
    with pytest.MonkeyPatch.context() as mp:
        for k, v in fakeweb.proxy_env().items():
            mp.setenv(k, v)
        mp.setenv("CITEVAULT_ALLOW_PRIVATE_NETWORKS", "1")
        archive = Archive(Settings(home=home, public_url=BASE, retries=0, timeout=5))
        try:
            queued = archive.queue([site.article])
            archive.capture(queued)
            cites = source_citations(archive, queued[0].source_id, BASE)
        finally:
            archive.close()
    yield Cited(site, cites)


def _by_url(cites: list[Citation], url: str) -> Citation:
    return next(c for c in cites if c.url == url)


def test_article_metadata_in_every_format(cited: Cited) -> None:
    article = cited.cites[0]
    assert article.page is not None and article.copy is not None
    assert article.page.authors == ["Jordan Pike"] and article.page.published == "2026-11-03"
    assert article.page.site == "The Daily Ledger" and article.page.language == "en"
    assert article.title == cited.site.title
    date, replay = article.copy.date, article.copy.replay_url
    md = render([article], "markdown")
    assert md == (f'Jordan Pike, "[{cited.site.title}]({article.url})", The Daily Ledger, 2026-11-03 '
                  f"([archived {date}]({replay}))\n")
    text = render([article], "text")
    assert text == (f'Jordan Pike, "{cited.site.title}", The Daily Ledger, 2026-11-03. {article.url}. '
                    f"Archived {date} at {replay}\n")
    bib = render([article], "bibtex", source_id=1)
    assert bib.startswith("@online{citevault1,\n")
    for line in ("  author = {{Jordan Pike}},", "  date = {2026-11-03},",
                 "  organization = {The Daily Ledger},", f"  urldate = {{{date}}},"):
        assert line in bib.splitlines(), line
    wiki = render([article], "wikipedia")
    assert wiki == (
        f"{{{{cite web |url={article.url} |title={cited.site.title} |author=Jordan Pike |date=2026-11-03 "
        f"|website=The Daily Ledger |archive-url={replay} |archive-date={date} |url-status=live}}}}\n"
    )
    doc = article.as_json()["metadata"]
    assert doc["authors"] == ["Jordan Pike"] and doc["kind"] == "html"


def test_tweet_is_cited_as_author_handle_text(cited: Cited) -> None:
    tweet = _by_url(cited.cites, cited.site.tweet_links[0])
    assert tweet.page is not None and tweet.page.kind == "tweet"
    assert tweet.page.handle == "sen_x" and tweet.page.published == "2026-11-02"
    line = f"Sen. Maria Alvarez (@sen_x): {TWEET_TEXT}"
    for fmt in FORMATS:
        out = render([cited.cites[0], tweet], fmt)
        if fmt in ("bibtex", "markdown"):
            out = re.sub(r"\\(.)", r"\1", out)  # unescape specials (sen\_x)
        if fmt == "bibtex":
            assert "author = {{Sen. Maria Alvarez}}" in out and "date = {2026-11-02}" in out
        assert line in out, fmt


def test_error_page_is_not_presented_as_the_source(cited: Cited) -> None:
    gone = _by_url(cited.cites, cited.site.not_found)
    assert gone.page is None and gone.copy is not None and gone.copy.status == 404
    wiki = render([cited.cites[0], gone], "wikipedia").splitlines()[-1]
    assert wiki.startswith(f"* {{{{cite web |url={gone.url} |title=")
    assert "archive-url" not in wiki and f"<!-- {gone.reason} -->" in wiki
    for fmt in ("markdown", "text"):
        assert gone.reason is not None and gone.reason in render([cited.cites[0], gone], fmt)
