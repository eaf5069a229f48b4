"""Page metadata extraction: an HTML article's title, authors, date, site, language, description
and main text; a tweet's author, handle, date and text from its oEmbed JSON."""

from __future__ import annotations

import json

import pytest

from citevault.crawler.metadata import html_metadata, metadata_of, oembed_metadata

ARTICLE = """<!DOCTYPE html><html lang="en-GB"><head><meta charset="utf-8">
<title>Council approves the tidal barrier | The Harbour Gazette</title>
<meta name="description" content="The barrier will protect two thousand homes.">
<meta property="og:site_name" content="The Harbour Gazette">
<meta name="author" content="Ada Quill">
<meta property="article:published_time" content="2026-10-14T08:00:00Z">
</head><body><nav><a href="/">Home</a> <a href="/news/">News</a></nav>
<article><h1>Council approves the tidal barrier</h1>
<p>The council voted on Tuesday to build a tidal barrier across the estuary, after three winters
of flooding in the lower town left hundreds of families out of their homes for weeks.</p>
<p>Engineers expect the work to take four years and to cost less than the repairs of the last
two floods together, according to the report presented to the council.</p></article>
<footer>Copyright The Harbour Gazette. Subscribe to our newsletter.</footer></body></html>"""

TWEET = {
    "url": "https://twitter.com/harbourcouncil/status/1860000000000000001",
    "author_name": "Harbour Council",
    "author_url": "https://twitter.com/harbourcouncil",
    "html": '<blockquote class="twitter-tweet"><p lang="en" dir="ltr">The tidal barrier is approved. '
    'Work starts in spring.</p>&mdash; Harbour Council (@harbourcouncil) '
    '<a href="https://twitter.com/harbourcouncil/status/1860000000000000001?ref_src=twsrc%5Etfw">'
    "October 14, 2026</a></blockquote>\n<script async src=\"https://platform.twitter.com/widgets.js\">"
    "</script>\n",
    "provider_name": "Twitter",
    "type": "rich",
    "version": "1.0",
}


def test_html_article_metadata() -> None:
    meta = html_metadata(ARTICLE.encode(), "https://www.gazette.test/2026/10/barrier")
    assert meta.kind == "html"
    assert meta.title == "Council approves the tidal barrier"
    assert meta.authors == ["Ada Quill"] and meta.published == "2026-10-14"
    assert meta.site == "The Harbour Gazette" and meta.language == "en-gb"
    assert meta.description == "The barrier will protect two thousand homes."
    assert "three winters of flooding" in " ".join(meta.text.split())
    assert "newsletter" not in meta.text and "Home" not in meta.text


def test_a_date_is_what_the_page_declares_not_one_of_its_body_text() -> None:
    """The publication date comes from where a page declares it (meta tags, <time>, an element
    classed as a date), not from a date guessed out of the running text: htmldate's "extensive"
    regex search over the whole page took a third of a crawl's CPU, and on old pages mostly found
    footers and listings (benchmarks/history/2026-12-07-and-before.md, p-cpu4)."""
    body = ARTICLE.replace('<meta property="article:published_time" content="2026-10-14T08:00:00Z">', "")
    footer = "<footer>Copyright The Harbour Gazette. Terms of use revised March 10, 2001.</footer>"
    guessed = body.replace("<footer>Copyright The Harbour Gazette. Subscribe to our newsletter.</footer>",
                           footer)
    assert footer in guessed
    assert html_metadata(guessed.encode(), "https://www.gazette.test/barrier").published is None
    declared = guessed.replace("<h1>", '<p class="date">Published 12 October 2026</p><h1>')
    assert html_metadata(declared.encode(), "https://www.gazette.test/barrier").published == "2026-10-12"


def test_tweet_metadata_from_oembed() -> None:
    url = "https://publish.twitter.com/oembed?url=https%3A%2F%2Ftwitter.com%2Fharbourcouncil%2Fstatus%2F1"
    meta = metadata_of("application/json", json.dumps(TWEET).encode(), url)
    assert meta is not None and meta.kind == "tweet"
    assert meta.authors == ["Harbour Council"] and meta.handle == "harbourcouncil"
    assert meta.published == "2026-10-14" and meta.language == "en"
    assert meta.text == "The tidal barrier is approved. Work starts in spring."
    assert meta.subject_url == TWEET["url"]


def test_not_metadata() -> None:
    assert oembed_metadata(b"[1, 2]", "https://x.test/oembed") is None
    assert oembed_metadata(b"not json", "https://x.test/oembed") is None
    assert metadata_of("image/png", b"\x89PNG", "https://x.test/a.png") is None
    empty = html_metadata(b"", "https://x.test/")
    assert empty.kind == "html" and empty.text == ""


def test_only_articles_let_trafilatura_choose_their_citations() -> None:
    """A home or index page keeps the container heuristics (its sections are what a reader
    follows); a page that declares itself an article lets the main-content links decide."""
    from citevault.crawler.metadata import looks_like_article

    assert looks_like_article(b'<meta property="og:type" content="article">')
    assert looks_like_article(b"<meta content='article' property='og:type'>")
    assert looks_like_article(b'<script type="application/ld+json">{"@type": "NewsArticle"}</script>')
    assert looks_like_article(b"<body><article class=story><p>Text</p></article>")
    assert not looks_like_article(b"<html><body><nav><a href=/about>About</a></nav><div>Welcome</div>")


def _link_list(n: int) -> bytes:
    items = "".join(f'<li><a href="/r/{i}.html">Report {i}</a></li>' for i in range(n))
    return (
        '<!DOCTYPE html><html lang="de"><head><title>All reports | Archive</title>'
        '<meta property="og:site_name" content="The Archive">'
        '<meta name="author" content="Ada Quill; Ben Ink">'
        '<meta property="article:published_time" content="2026-10-14T08:00:00Z">'
        '<meta name="description" content="Every report.">'
        "<style>.x{color:red}</style><script>var hidden = 1;</script></head>"
        f"<body><h1>Reports</h1><ul>{items}</ul><p>The end.</p></body></html>"
    ).encode()


def test_a_page_too_big_for_trafilatura_is_read_as_a_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    import trafilatura

    from citevault.crawler.metadata import main_links
    from citevault.crawler.metastream import TRAFILATURA_MAX_TAGS, too_big_for_trafilatura

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("trafilatura must not build the tree of a page this big")

    monkeypatch.setattr(trafilatura, "bare_extraction", refuse)
    monkeypatch.setattr(trafilatura, "extract", refuse)
    page = _link_list(TRAFILATURA_MAX_TAGS // 4 + 10)
    assert too_big_for_trafilatura(page) and not too_big_for_trafilatura(ARTICLE.encode())
    meta = html_metadata(page, "https://archive.test/reports/")
    assert meta.title == "All reports | Archive"
    assert meta.site == "The Archive"
    assert meta.authors == ["Ada Quill", "Ben Ink"]
    assert meta.published == "2026-10-14"
    assert meta.language == "de"
    assert meta.description == "Every report."
    assert meta.text.startswith("Reports Report 0 Report 1 ")
    assert meta.text.endswith(f"Report {TRAFILATURA_MAX_TAGS // 4 + 9} The end.")
    assert "hidden" not in meta.text and "color" not in meta.text
    assert main_links(page, "https://archive.test/reports/") == set()  # links.py's heuristics decide


def test_streamed_text_stops_at_its_limit() -> None:
    from citevault.crawler.metastream import streamed_metadata

    found = streamed_metadata(_link_list(50_000), max_text=1_000)
    assert len(found["text"]) == 1_000
    assert found["text"].startswith("Reports Report 0 ")
    assert found["title"] == "All reports | Archive"  # the head was read before the text filled
