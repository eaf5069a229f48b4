"""Link classification: requisites, citations in the main content, navigation, embeds, oEmbed."""

from __future__ import annotations

import pytest

from citevault.crawler.links import css_links, extract_page_links, oembed_url, srcset_urls

BASE = "https://news.example.test/2026/story/"

PAGE = """<!doctype html><html><head><title> A story </title>
<link rel="stylesheet" href="/css/site.css"><link rel="icon" href="/fav.png">
<link rel="preload" as="font" href="/f.woff2"><link rel="alternate" href="/feed.xml">
<script src="/js/app.js"></script><style>@import "/css/more.css"; body{background:url(bg.png)}</style>
</head><body>
<header><nav><a href="/politics/">Politics</a><a href="/world/">World</a></nav></header>
<div class="ad-slot"><iframe src="https://ads.example.test/serve?x=1"></iframe></div>
<article>
  <header class="article-header"><a href="/authors/jane/">Jane Doe</a></header>
  <p>The agency <a href="https://gov.example.test/statement">said in a statement</a> that it
  would act, and <a href="https://wire.example.test/story/1#para3">a wire report</a> agreed.</p>
  <img src="hero.jpg" srcset="hero-800.jpg 800w, hero-1600.jpg 1600w" style="border-image:url('/b.png')">
  <picture><source srcset="/p.webp 1x, /p2.webp 2x"></picture>
  <div class="share-tools"><a href="https://social.example.test/share?u=1">Share</a></div>
  <iframe src="https://www.youtube.com/embed/abc123" title="Video"></iframe>
  <p><a href="mailto:tips@example.test">Email us</a> <a href="javascript:void(0)">x</a>
  <a href="#top">top</a></p>
</article>
<aside class="sidebar"><h3>Trending</h3><a href="/2026/other/">Other story</a></aside>
<footer><a href="/about/">About</a><a href="https://twitter.com/newsdesk">Twitter</a></footer>
</body></html>"""


def test_requisites() -> None:
    links = extract_page_links(PAGE, BASE)
    assert links.title == "A story"
    for url in ("https://news.example.test/css/site.css", "https://news.example.test/fav.png",
                "https://news.example.test/f.woff2", "https://news.example.test/js/app.js",
                "https://news.example.test/css/more.css", BASE + "bg.png", BASE + "hero.jpg",
                BASE + "hero-800.jpg", BASE + "hero-1600.jpg", "https://news.example.test/p.webp",
                "https://news.example.test/p2.webp", "https://news.example.test/b.png"):
        assert url in links.requisites, url
    assert "https://news.example.test/feed.xml" not in links.requisites
    # A page that declares its icon gets no /favicon.ico guess.
    assert "https://news.example.test/favicon.ico" not in links.requisites
    bare = extract_page_links("<html><body></body></html>", BASE)
    assert bare.requisites == ["https://news.example.test/favicon.ico"]
    assert extract_page_links("<html></html>", BASE, guess_favicon=False).requisites == []


def test_cited_versus_navigation() -> None:
    links = extract_page_links(PAGE, BASE)
    cited = [u for u, _ in links.cited]
    assert cited == [
        "https://gov.example.test/statement",
        "https://wire.example.test/story/1",  # fragment dropped
        "https://www.youtube.com/embed/abc123",  # a video embedded in the article is cited
    ]
    assert dict(links.cited)["https://gov.example.test/statement"] == "said in a statement"
    nav = [u for u, _ in links.navigation]
    for url in ("https://news.example.test/politics/", "https://news.example.test/authors/jane/",
                "https://social.example.test/share?u=1", "https://news.example.test/2026/other/",
                "https://news.example.test/about/", "https://twitter.com/newsdesk"):
        assert url in nav, url
    assert links.embeds == ["https://ads.example.test/serve?x=1"]
    everything = cited + nav
    assert not any(u.startswith(("mailto:", "javascript:")) for u in everything)


def test_prose_links_outside_main_are_cited() -> None:
    html = """<html><body><header><p>The registry is run by a nonprofit that coordinates the
    global root zone and many other shared identifiers. <a href="about/">Learn more.</a></p></header>
    <nav><p><a href="/x">X</a></p></nav></body></html>"""
    links = extract_page_links(html, "https://www.example.test/")
    assert [u for u, _ in links.cited] == ["https://www.example.test/about/"]


def test_base_href() -> None:
    links = extract_page_links('<html><head><base href="https://cdn.example.test/a/"></head>'
                               '<body><img src="x.png"></body></html>', BASE)
    assert "https://cdn.example.test/a/x.png" in links.requisites


def test_bad_html_does_not_raise() -> None:
    assert extract_page_links(b"", BASE).cited == []
    assert extract_page_links(b"\x00\xff\xfe garbage <<<", BASE).cited == []


def test_css_links() -> None:
    css = """@import url("/fonts.css"); @import 'print.css' print;
    @font-face { src: url(../fonts/a.woff2) format("woff2"), url( 'b.ttf' ); }
    .x { background: url(data:image/png;base64,AAAA) } .y { background: url("#svg") }"""
    assert css_links(css, "https://s.example.test/css/site.css") == [
        "https://s.example.test/fonts.css",
        "https://s.example.test/css/print.css",
        "https://s.example.test/fonts/a.woff2",
        "https://s.example.test/css/b.ttf",
    ]


def test_srcset() -> None:
    assert srcset_urls("a.jpg 1x, b.jpg 2x") == ["a.jpg", "b.jpg"]
    assert srcset_urls("https://x/img,1.jpg 480w, https://x/img,2.jpg 960w") == [
        "https://x/img,1.jpg", "https://x/img,2.jpg"]
    assert srcset_urls("single.jpg") == ["single.jpg"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://twitter.com/sen_x/status/185?ref_src=twsrc", "https://publish.twitter.com/oembed?url="
         "https%3A%2F%2Ftwitter.com%2Fsen_x%2Fstatus%2F185"),
        ("https://x.com/a/status/9", "https://publish.twitter.com/oembed?url=https%3A%2F%2Fx.com%2Fa%2Fstatus%2F9"),
        ("https://www.youtube.com/watch?v=abc&t=3", "https://www.youtube.com/oembed?url=https%3A%2F%2F"
         "www.youtube.com%2Fwatch%3Fv%3Dabc&format=json"),
        ("https://youtu.be/abc", "https://www.youtube.com/oembed?url=https%3A%2F%2Fwww.youtube.com%2F"
         "watch%3Fv%3Dabc&format=json"),
        ("https://twitter.com/sen_x", None),
        ("https://example.test/watch?v=1", None),
    ],
)
def test_oembed(url: str, expected: str | None) -> None:
    assert oembed_url(url) == expected


def test_layout_wrappers_with_boilerplate_words_are_not_boilerplate() -> None:
    # Real pages put "ad" or "sidebar" in the class of wrappers around the whole page or the
    # article itself (politico, latimes, timesofisrael did in the corpus that found this).
    prose = ("The senator said on Tuesday that the measure would pass before the end of the year, "
             "according to <a href='https://records.example.test/vote'>the roll-call record</a>.")
    html = f"""<html><body class="enable-ad-placeholder"><div class="Page-ad-margins">
      <nav><a href="/section/">Section</a></nav>
      <article class="article sticky-sidebar-parent"><div class="article-content sticky-sidebar-relative">
        <p>{prose}</p><p>{prose.replace('vote', 'tally')}</p>
        <div class="sidebar-widget"><a href="/promo/">Promo</a></div>
      </div></article>
      <aside class="sidebar"><p>{prose.replace('vote', 'aside')}</p></aside>
    </div></body></html>"""
    links = extract_page_links(html, BASE)
    assert [u for u, _ in links.cited] == [
        "https://records.example.test/vote", "https://records.example.test/tally"]
    nav = [u for u, _ in links.navigation]
    assert "https://news.example.test/promo/" in nav and "https://records.example.test/aside" in nav


@pytest.mark.parametrize(("container", "cited"), [
    # A class token (whitespace as XPath's normalize-space folds it) comes before <article>.
    ('<div class="wide\tarticle-body\nx">{a}</div><article>{b}</article>', "a"),
    # Not a token: part of a longer one, or joined by a no-break space (not XML whitespace).
    ('<div class="article-bodyx">{a}</div><article>{b}</article>', "b"),
    ('<div class="wide\u00a0article-body">{a}</div><article>{b}</article>', "b"),
    # itemprop before everything; the main role before <main>; <main> before an id.
    ('<article>{b}</article><section itemprop="articleBody">{a}</section>', "a"),
    ('<main>{b}</main><div role="main">{a}</div>', "a"),
    ('<div id="content">{b}</div><main>{a}</main>', "a"),
    # One element taken by several rules is found by the first.
    ('<div id="main">{b}</div><main class="post-content">{a}</main>', "a"),
])
def test_the_main_content_rules_go_most_specific_first(container: str, cited: str) -> None:
    """The container of the article is the first rule's (itemprop, class token, article, main
    role, main, id), its links cited, the other container's navigation."""
    body = container.format(a='<a href="/a">A</a>', b='<a href="/b">B</a>')
    html = f"<html><body>{body}</body></html>"
    links = extract_page_links(html, "https://site.test/", guess_favicon=False)
    other = {"a": "b", "b": "a"}[cited]
    assert [u for u, _ in links.cited] == [f"https://site.test/{cited}"]
    assert [u for u, _ in links.navigation] == [f"https://site.test/{other}"]
