"""`--browser auto`'s choice on a page too big for a tree: read as a stream, the same answer as
the tree gives on the same page."""

from __future__ import annotations

import pytest

from citevault.crawler import browserchoice
from citevault.crawler.browserchoice import browser_reason

_PAD = "<!-- " + "x" * 1_100_000 + " -->"  # past the tree's limit, nothing a reader sees
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
}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_a_big_page_is_judged_as_a_stream_like_the_tree_judges_it(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = PAGES[name]
    small = browser_reason("https://site.test/", page.encode())
    big = (page.replace("<body>", "<body>" + _PAD, 1)).encode()
    assert len(big) > browserchoice._TREE_MAX

    def no_tree(*args: object, **kwargs: object) -> None:
        raise AssertionError("a page this big must not be parsed into a tree")

    monkeypatch.setattr(browserchoice.html, "document_fromstring", no_tree)
    assert browser_reason("https://site.test/", big) == small
    expected = {"article with scripts": None, "no scripts": None,
                "empty root": "empty application root #root", "filled root": None,
                "noscript": "the page asks for JavaScript (<noscript>)",
                "shell": "script shell: 10 characters of text"}
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
