"""MediaWiki pages cite the external links of their references and "External links" section, not
the wiki's own links (articles, Category:, File:, Special:, edit links) nor sister projects."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from citevault.archive import Archive
from citevault.cli import get_app
from citevault.config import Settings
from citevault.crawler.links import extract_page_links
from citevault.storage.models import Capture, Link
from tests.fakeweb import FakeWeb
from tests.sites.wiki import ARTICLE, EXTERNAL_LINKS, INTERNAL, PAGE, REFERENCES, SISTER, add_wiki


def test_references_and_external_links_are_the_citations() -> None:
    page = extract_page_links(PAGE, ARTICLE)
    cited = [u for u, _ in page.cited]
    assert cited == REFERENCES + EXTERNAL_LINKS
    nav = {u for u, _ in page.navigation}
    assert set(INTERNAL) <= nav and SISTER in nav
    assert dict(page.cited)[REFERENCES[0]] == '"Survey of harbour lights, 1871"'


def test_other_pages_keep_the_generic_rules() -> None:
    html = PAGE.replace('<meta name="generator" content="MediaWiki 1.42.0">', "").replace(
        'class="mediawiki ', 'class="')
    cited = [u for u, _ in extract_page_links(html, ARTICLE).cited]
    assert "https://wiki.example.test/wiki/Lighthouse" in cited  # what wikis suffered from


def test_capturing_a_wiki_page_fetches_its_sources_only(web: FakeWeb, home: Path) -> None:
    add_wiki(web)
    result = CliRunner().invoke(get_app(), ["add", ARTICLE, "--json"])
    assert result.exit_code == 0, result.stderr
    with Archive(Settings()) as archive, archive.index.session() as s:
        fetched = set(s.scalars(select(Capture.url).where(Capture.role == "cited")))
        kinds = {u: k for u, k in s.execute(select(Link.url, Link.kind))}
    assert fetched == set(REFERENCES + EXTERNAL_LINKS)
    assert all(kinds[u] == "navigation" for u in INTERNAL)
