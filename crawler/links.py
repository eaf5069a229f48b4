"""Finding what a captured page links to: page requisites, cited links in the main content,
navigation and embeds; CSS url()/@import references; tweet and video oEmbed endpoints."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urldefrag, urlencode, urljoin, urlsplit

import lxml.html
from lxml import etree

from .mediawiki import mediawiki_cited

__all__ = [
    "CSS_URL_RE",
    "PageLinks",
    "css_links",
    "extract_page_links",
    "main_text",
    "is_tweet_status",
    "oembed_url",
    "page_tree",
    "srcset_candidates",
    "srcset_urls",
]

# Containers that hold the article itself, most specific first: an itemprop, a class token, the
# <article> element, the main role, the <main> element, an id.
_MAIN_CLASSES = frozenset({"article-body", "story-body", "entry-content", "post-content", "article-content"})
_MAIN_IDS = frozenset({"main", "content", "main-content", "maincontent"})
_MAIN_RULES = 6
# Every element that one of the rules takes, in one walk of the page: an XPath per rule walked
# it six times (3-5 ms of an article page's link extraction, benchmarks/history/
# 2026-12-07-p-cpu6-eve.md). Class tokens are matched in Python (`_main_rules`); the XPath
# only keeps elements whose class could hold one.
_MAIN_CANDIDATES = etree.XPath(
    "//*[self::article or self::main or @itemprop='articleBody' or @role='main'"
    " or @id='main' or @id='content' or @id='main-content' or @id='maincontent'"
    " or contains(@class, '-body') or contains(@class, '-content')]"
)
_XML_SPACE = re.compile(r"[ \t\r\n]+")  # what XPath's normalize-space() folds, no more


def _main_rules(el: etree._Element) -> list[int]:
    """The rules (indexes, most specific first) that take `el` as the main-content container."""
    tag = el.tag
    rules = []
    if el.get("itemprop") == "articleBody":
        rules.append(0)
    if _MAIN_CLASSES.intersection(_XML_SPACE.split(el.get("class") or "")):
        rules.append(1)
    if tag == "article":
        rules.append(2)
    if el.get("role") == "main":
        rules.append(3)
    if tag == "main":
        rules.append(4)
    if el.get("id") in _MAIN_IDS:
        rules.append(5)
    return rules


# A link inside a paragraph of at least this many words is prose, so a citation, wherever it is.
_PROSE_WORDS = 12
# Boilerplate blocks inside or around the main content: their links are navigation.
_BOILERPLATE_TAGS = {"nav", "footer", "aside", "header", "form"}
_BOILERPLATE_WORDS = frozenset(
    "nav navbar navigation menu footer sidebar trending popular related recommended promo ad ads "
    "advert advertisement sponsor sponsored share sharing social newsletter subscribe comment "
    "comments breadcrumb breadcrumbs masthead banner outbrain taboola widget".split()
)
# A token naming the content itself ("article-body", "story-share-inline"?) is never boilerplate.
_CONTENT_WORDS = frozenset("article story content body main post entry text".split())
_BLOCK_TAGS = (
    "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "dt", "dd", "tr", "td", "th", "br",
    "blockquote", "pre", "section", "article", "figcaption", "table", "ul", "ol",
)
# url(...) in its three quotings and @import "..." / '...' (an @import url(...) is a url()).
CSS_URL_RE = re.compile(
    r"""url\(\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^)'"\s]*))\s*\)"""
    r"""|@import\s+(?:"(?P<idq>[^"]*)"|'(?P<isq>[^']*)')""",
    re.I,
)
_TWEET_RE = re.compile(r"^https?://(?:www\.|mobile\.)?(?:twitter|x)\.com/[^/]+/status(?:es)?/(\d+)", re.I)
_YOUTUBE_RE = re.compile(
    r"^https?://(?:(?:www\.|m\.)?youtube\.com/(?:watch\?|embed/|shorts/)|youtu\.be/)", re.I
)
_ICON_RELS = {"icon", "shortcut icon", "apple-touch-icon", "apple-touch-icon-precomposed", "mask-icon"}


@dataclass
class PageLinks:
    """Links of one HTML page, sorted by what the capture does with them."""

    requisites: list[str] = field(default_factory=list)
    cited: list[tuple[str, str]] = field(default_factory=list)  # (url, anchor text)
    navigation: list[tuple[str, str]] = field(default_factory=list)
    embeds: list[str] = field(default_factory=list)  # iframes: not requisites, not citations
    title: str | None = None
    found: int = 0  # links (a, area) seen; more than cited + navigation when a cap cut them


def _http_url(base: str, raw: str | None) -> str | None:
    if not raw:
        return None
    raw = raw.strip()
    if not raw or raw.startswith(("#", "data:", "javascript:", "mailto:", "tel:", "about:")):
        return None
    try:
        url = urldefrag(urljoin(base, raw))[0]
    except ValueError:
        return None
    return url if urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc else None


def srcset_candidates(value: str) -> list[tuple[str, str]]:
    """(URL, descriptors) of each candidate of a srcset attribute value, parsed as the HTML
    standard says: a URL runs to the next whitespace (commas inside it are kept, trailing ones end
    the candidate), then descriptors run to the next comma outside parentheses."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(value)
    while i < n:
        while i < n and (value[i].isspace() or value[i] == ","):
            i += 1
        start = i
        while i < n and not value[i].isspace():
            i += 1
        url = value[start:i]
        descriptors = ""
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            depth, desc_start = 0, i
            while i < n and not (value[i] == "," and depth == 0):
                depth += {"(": 1, ")": -1}.get(value[i], 0)
                i += 1
            descriptors = value[desc_start:i].strip()
        if url:
            out.append((url, descriptors))
    return out


def srcset_urls(value: str) -> list[str]:
    """The URLs of a srcset attribute value."""
    return [url for url, _ in srcset_candidates(value)]


def css_links(css: str, base: str) -> list[str]:
    """Absolute URLs referenced by url(...) and @import in a stylesheet."""
    out: list[str] = []
    for m in CSS_URL_RE.finditer(css):
        url = _http_url(base, next((g for g in m.groups() if g), None))
        if url and url not in out:
            out.append(url)
    return out


class _Page:
    """Boilerplate tests over one parsed page. An element holding most of the page's text is a
    layout wrapper (`<body class="enable-ad-placeholder">`, `<div class="Page-ad-margins">`, an
    ASP.NET `<form>`), never boilerplate, whatever its class says."""

    def __init__(self, doc: etree._Element) -> None:
        self._doc = doc
        self._total: int | None = None  # the page's text length, read when first needed
        self._lengths: dict[etree._Element, int] = {}

    def _wrapper(self, node: etree._Element) -> bool:
        if self._total is None:
            # Only a page with a node marked as boilerplate asks (most pages' links never do).
            body = self._doc.find("body")
            self._total = len((body if body is not None else self._doc).text_content())
        n = self._lengths.get(node)
        if n is None:
            n = self._lengths[node] = len(node.text_content())
        return self._total > 0 and n >= self._total / 2

    def boilerplate(self, el: etree._Element, stop: etree._Element | None, *,
                    tags: frozenset[str] | set[str] = _BOILERPLATE_TAGS) -> bool:
        node: etree._Element | None = el
        while node is not None and node is not stop:
            tag = node.tag if isinstance(node.tag, str) else ""
            if tag in ("body", "html"):
                break
            marked = (
                tag in tags
                or _boilerplate_marker(f"{node.get('class', '')} {node.get('id', '')}")
                or node.get("role") in ("navigation", "contentinfo", "complementary", "banner")
            )
            if marked and not self._wrapper(node):
                return True
            node = node.getparent()
        return False

    def main_content(self, doc: etree._Element) -> etree._Element | None:
        by_rule: list[list[etree._Element]] = [[] for _ in range(_MAIN_RULES)]
        for el in _MAIN_CANDIDATES(doc):
            for rule in _main_rules(el):
                by_rule[rule].append(el)
        for candidates in by_rule:
            found = [e for e in candidates if not self.boilerplate(e, None)]
            if found:
                # The container with the most text is the article (pages list teasers in <article>s).
                return max(found, key=lambda e: len(e.text_content()))
        return None

    def in_prose(self, a: etree._Element) -> bool:
        """A link in a sentence of running text outside navigation, footers and sidebars."""
        para = next((p for p in a.iterancestors("p")), None)
        if para is None or len(para.text_content().split()) < _PROSE_WORDS:
            return False
        return not self.boilerplate(para, None, tags=_BOILERPLATE_TAGS - {"header"})


def _boilerplate_marker(marker: str) -> bool:
    """Class and id tokens naming boilerplate ("sidebar", "nav-menu"), unless another token names
    the content itself ("article-content sticky-sidebar-relative" is the article)."""
    tokens = [set(re.split(r"[-_]+", t)) for t in marker.lower().split()]
    if any(words & _CONTENT_WORDS for words in tokens):
        return False
    return any(words & _BOILERPLATE_WORDS for words in tokens)


def main_text(html: bytes | str, base_url: str) -> str:
    """The readable text of a page's main content (the body when none is found), without scripts,
    styles, navigation, footers and sidebars; whitespace collapsed. Link checks compare it."""
    try:
        doc = lxml.html.document_fromstring(html, base_url=base_url)
    except (etree.ParserError, ValueError):
        return ""
    for el in doc.xpath("//script|//style|//noscript|//template"):
        el.drop_tree()
    page = _Page(doc)
    root = page.main_content(doc)
    if root is None:
        root = doc.find("body")
    if root is None:
        return ""
    for el in [e for e in root.iterdescendants() if page.boilerplate(e, e.getparent())]:
        el.drop_tree()
    for el in root.iter(*_BLOCK_TAGS):  # "<h1>Title</h1><p>Text" reads "Title Text", not "TitleText"
        el.tail = " " + (el.tail or "")
    return " ".join(root.text_content().split())


def is_tweet_status(url: str) -> bool:
    """A tweet's status page (twitter.com or x.com)."""
    return bool(_TWEET_RE.match(url))


def oembed_url(url: str) -> str | None:
    """The oEmbed endpoint that returns a tweet's or a video's text, or None."""
    if _TWEET_RE.match(url):
        return "https://publish.twitter.com/oembed?" + urlencode({"url": url.split("?")[0]})
    if _YOUTUBE_RE.match(url):
        parts = urlsplit(url)
        if "/embed/" in parts.path or "/shorts/" in parts.path or parts.netloc.endswith("youtu.be"):
            vid = parts.path.rstrip("/").rsplit("/", 1)[-1]
        else:
            vid = parse_qs(parts.query).get("v", [""])[0]
        if not vid:
            return None
        watch = f"https://www.youtube.com/watch?v={vid}"
        return "https://www.youtube.com/oembed?" + urlencode({"url": watch, "format": "json"})
    return None


def page_tree(html: bytes | str, base_url: str, encoding: str | None = None) -> etree._Element | None:
    """A page parsed as `extract_page_links` reads it (None when lxml finds no document). The
    crawl parses a page once, for its links and for the browser choice (browserchoice.py).
    `encoding` is the page's (from its headers): without it libxml2 reads a page that does not
    declare its charset in a meta tag as Latin-1, mangling every non-ASCII link."""
    parser = lxml.html.HTMLParser(encoding=encoding) if encoding and isinstance(html, bytes) else None
    try:
        return lxml.html.document_fromstring(html, parser=parser, base_url=base_url)
    except (etree.ParserError, ValueError):
        return None


def extract_page_links(
    html: bytes | str, base_url: str, *, guess_favicon: bool = True, main_links: Collection[str] = (),
    encoding: str | None = None, doc: etree._Element | None = None,
) -> PageLinks:
    """Sort the links of an HTML page into requisites, cited, navigation and embeds.
    `guess_favicon` adds /favicon.ico, which browsers ask for, when the page declares no icon.
    `main_links`, the links of the main content as an extractor found them (metadata.main_links),
    decide which links are cited instead of the container heuristics here; on MediaWiki pages
    the references and "External links" decide (mediawiki.py).
    `encoding`: as `page_tree` reads it; `doc`, the page already parsed so (`html` unused)."""
    out = PageLinks()
    if doc is None:
        doc = page_tree(html, base_url, encoding)
    if doc is None:
        return out
    base_el = doc.find(".//base[@href]")
    base = _http_url(base_url, base_el.get("href")) if base_el is not None else None
    base = base or base_url
    title = doc.findtext(".//title")
    out.title = title.strip() if title else None

    req: dict[str, None] = {}

    def add_req(raw: str | None) -> None:
        url = _http_url(base, raw)
        if url:
            req.setdefault(url, None)

    has_icon = False
    for el in doc.iter("link"):
        rel = (el.get("rel") or "").lower().strip()
        if "stylesheet" in rel.split() or rel in _ICON_RELS or (
            "preload" in rel.split() and el.get("as") in ("style", "font", "image", "script")
        ):
            add_req(el.get("href"))
            has_icon = has_icon or rel in _ICON_RELS
    for el in doc.iter("img", "source", "script", "video", "audio", "input", "track", "embed"):
        if el.tag == "input" and (el.get("type") or "").lower() != "image":
            continue
        add_req(el.get("src"))
        add_req(el.get("poster"))
        for attr in ("srcset", "data-srcset"):
            if el.get(attr):
                for u in srcset_urls(el.get(attr) or ""):
                    add_req(u)
        if el.tag == "img":
            add_req(el.get("data-src"))
    for el in doc.iter("style"):
        for u in css_links(el.text or "", base):
            add_req(u)
    for el in doc.xpath("//*[@style]"):
        for u in css_links(el.get("style") or "", base):
            add_req(u)
    for el in doc.xpath("//*[@background]"):
        add_req(el.get("background"))
    if guess_favicon and not has_icon:
        add_req("/favicon.ico")
    out.requisites = list(req)

    page = _Page(doc)
    main = page.main_content(doc)
    seen: set[str] = set()
    wiki = mediawiki_cited(doc, base_url, lambda raw: _http_url(base, raw))
    if wiki is not None:
        out.cited = wiki
        seen.update(u for u, _ in wiki)
    for a in doc.iter("a", "area"):
        url = _http_url(base, a.get("href"))
        if not url or url in seen or url == urldefrag(base_url)[0]:
            continue
        seen.add(url)
        text = " ".join(a.text_content().split())[:500] if a.tag == "a" else (a.get("alt") or "")
        if wiki is not None:
            in_main = False
        elif main_links:
            in_main = url in main_links
        else:
            in_main = main is not None and _is_descendant(a, main) and not page.boilerplate(a, main)
            in_main = in_main or page.in_prose(a)
        (out.cited if in_main else out.navigation).append((url, text))
    for el in doc.iter("iframe", "frame"):
        url = _http_url(base, el.get("src"))
        if not url:
            continue
        if wiki is None and main is not None and _is_descendant(el, main) and not page.boilerplate(
            el, main
        ) and oembed_url(url):
            if url not in seen:
                seen.add(url)
                out.cited.append((url, el.get("title") or ""))
        else:
            out.embeds.append(url)
    return out


def _is_descendant(el: etree._Element, ancestor: etree._Element) -> bool:
    node: etree._Element | None = el
    while node is not None:
        if node is ancestor:
            return True
        node = node.getparent()
    return False
