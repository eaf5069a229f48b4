"""The trafilatura options html_metadata builds once (metadata._options) instead of per page:
the same options, so the same metadata and text, as bare_extraction's own from its keywords."""

from __future__ import annotations

from typing import Any

import pytest
import trafilatura
import trafilatura.core
from trafilatura.settings import Extractor

from citevault.crawler import metadata
from citevault.crawler.metadata import _date_params, _options, html_metadata

from .test_metadata import ARTICLE

# A list of links and little prose: trafilatura falls back on readability and justext here.
HUB = "<html><head><title>Index</title></head><body><ul>" + "".join(
    f'<li><a href="/p/{i}.html">Page {i}</a></li>' for i in range(60)
) + "</ul><p>Short.</p></body></html>"

URLS = ["https://www.gazette.test/2026/10/barrier", "http://hub.bench.test/", "https://ex.test/caf\u00e9?q=\ud800"]


def _slots(options: Extractor) -> dict[str, Any]:
    return {name: getattr(options, name) for name in Extractor.__slots__}


def _built_by_bare_extraction(monkeypatch: pytest.MonkeyPatch, url: str) -> Extractor:
    """The Extractor bare_extraction builds from the keywords html_metadata passed it before."""
    built: list[Extractor] = []

    class Recording(Extractor):
        __slots__ = ()

        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            built.append(self)

    monkeypatch.setattr(trafilatura.core, "Extractor", Recording)
    trafilatura.bare_extraction(
        ARTICLE.encode(), url=url, with_metadata=True, include_comments=False, include_tables=True,
        favor_recall=True, date_extraction_params=_date_params(),
    )
    monkeypatch.undo()
    assert len(built) == 1
    return built[0]


@pytest.mark.parametrize("url", URLS)
def test_the_shared_options_are_those_bare_extraction_builds(
    monkeypatch: pytest.MonkeyPatch, url: str,
) -> None:
    assert _slots(_options(url)) == _slots(_built_by_bare_extraction(monkeypatch, url))


def test_each_page_gets_its_own_copy_and_a_new_day_new_options(monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = _options(URLS[0]), _options(URLS[1])
    assert first is not second and first.url == URLS[0] and second.url == URLS[1]
    monkeypatch.setattr(metadata, "_date_params", lambda: {**_date_params(), "max_date": "2999-01-01"})
    assert _options(URLS[0]).date_params["max_date"] == "2999-01-01"


@pytest.mark.parametrize(("page", "url"), [(ARTICLE, URLS[0]), (HUB, URLS[1])])
def test_the_same_pages_get_the_same_metadata_and_text(page: str, url: str) -> None:
    found = trafilatura.bare_extraction(
        metadata._parse(page.encode()), url=url, with_metadata=True, include_comments=False,
        include_tables=True, favor_recall=True, date_extraction_params=_date_params(),
    )
    assert found is not None
    meta = html_metadata(page.encode(), url)
    expected = found.as_dict() if not isinstance(found, dict) else found
    assert meta.text == (expected["text"] or "")[: metadata.MAX_TEXT] and meta.text
    assert meta.published == expected["date"] and meta.description == expected["description"]


def test_no_page_gets_a_date_from_the_page_before() -> None:
    """The date parameters are the page's own: htmldate is given each page's URL with them, and
    a date found in one page's URL must not follow the next page."""
    undated = ARTICLE.replace('<meta property="article:published_time" content="2026-10-14T08:00:00Z">', "")
    dated = html_metadata(undated.encode(), "https://www.gazette.test/2020/05/01/barrier")
    assert dated.published == "2020-05-01"
    assert html_metadata(undated.encode(), "https://www.gazette.test/barrier").published is None
