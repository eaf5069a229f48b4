"""`--browser auto`'s choice: on a page too big for a tree, read as a stream, the same answer as
the tree gives on the same page; on the tree the crawl parsed once, the same answer as on the
page's bytes, the tree left as it was for the page's links."""

from __future__ import annotations

import lxml.html
import pytest

from citevault.crawler.browserchoice import browser_reason
from citevault.crawler.links import extract_page_links, page_tree
from citevault.crawler.linkstream import STREAM_ABOVE

_PAD = "<!-- " + "x" * (STREAM_ABOVE + 100_000) + " -->"  # past the tree's limit, nothing a reader sees
_ARTICLE_TEXT = "<p>" + "The council voted to build a tidal barrier across the estuary. " * 10 + "</p>"
PAGES = {
    "article with scripts": "<html><head><script src='/a.js'></script></head>"
                            f"<body>{_ARTICLE_TEXT}</body></html>",
    "no scripts": "<html><body><p>Loading</p></body></html>",
    "empty root": "<html><body><div id='root'></div><script src='/app.js'></script></body></html>",
    "filled root": f"<html><body><div id='app'>{_ARTICLE_TEXT}</div>"
                   "<script src='/app.js'></script></body></html>",
    "noscript": "<html><body><noscript>Please enable JavaScript to continue.</noscript>"
                f"<script>go()</script>{_ARTICLE_TEXT}</body></html>",
    "shell": "<html><head><script>boot()</script><style>p{color:red}</style></head>"
             "<body><p>Loading...</p><script>more()</script></body></html>",
    # Words run on across elements ("<b>un</b>told" is one word of 6), and a space kept apart.
    "split words": "<html><body><script>go()</script><p>" + "un<b>told</b> <i>st</i>ory " * 15
                   + "</p></body></html>",
}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_a_big_page_is_judged_as_a_stream_like_the_tree_judges_it(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = PAGES[name]
    small = browser_reason("https://site.test/", page.encode())
    big = (page.replace("<body>", "<body>" + _PAD, 1)).encode()
    assert len(big) > STREAM_ABOVE

    def no_tree(*args: object, **kwargs: object) -> None:
        raise AssertionError("a page this big must not be parsed into a tree")

    monkeypatch.setattr(lxml.html, "document_fromstring", no_tree)
    assert browser_reason("https://site.test/", big) == small
    expected = {"article with scripts": None, "no scripts": None,
                "empty root": "empty application root #root", "filled root": None,
                "noscript": "the page asks for JavaScript (<noscript>)",
                "shell": "script shell: 10 characters of text",
                "split words": "script shell: 194 characters of text"}
    assert small == expected[name]


@pytest.mark.parametrize("chars", [0, 1, 199, 200, 5_000])
def test_visible_text_is_counted_as_one_space_between_words(chars: int) -> None:
    """A page with scripts is a shell below 200 characters of visible text, whitespace runs
    counting as one space (the count stops early on a long body, the answer does not change)."""
    text = ("abc " * chars)[:chars]
    text = text[:-1] + "z" if text.endswith(" ") else text  # `chars` long, single spaces
    body = text.replace(" ", "\n\t\u00a0 ")
    page = (f"<html><head><meta charset=utf-8></head><body><script>go()</script><p>  {body}  </p>"
            "<style>p{}</style></body></html>")
    assert len(" ".join(body.split())) == chars
    expected = None if chars >= 200 else f"script shell: {chars} characters of text"
    assert browser_reason("https://site.test/", page.encode()) == expected


@pytest.mark.parametrize("name", sorted(PAGES))
def test_the_tree_parsed_once_gives_the_same_answer_and_stays_whole(name: str) -> None:
    """The spider parses a page once (links.page_tree) for the choice and its links: the answer is
    the one the page's bytes give, and reading it takes nothing out of the tree (scripts and
    stylesheets are requisites)."""
    page = PAGES[name].replace("<head>", "<head><link rel=stylesheet href=/s.css>", 1).encode()
    tree = page_tree(page, "https://site.test/", "utf-8")
    assert tree is not None
    before = lxml.html.tostring(tree)
    assert browser_reason("https://site.test/", page, tree=tree) == browser_reason("https://site.test/", page)
    assert lxml.html.tostring(tree) == before
    assert extract_page_links(page, "https://site.test/", doc=tree) == extract_page_links(
        page, "https://site.test/", encoding="utf-8")
