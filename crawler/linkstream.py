"""Links of pages too big to parse whole: one streaming pass of lxml's HTML parser into a parser
target (no tree at all), so memory stays flat however big the page; and a cap on the links kept
per page.

A 32 MB page of a million links took 2.2 GB and a minute as one lxml tree with the full
main-content analysis of links.py; streamed, it holds the open elements' attributes. The
classification is coarser (a link inside article/main and outside navigation, footers and
sidebars is cited), which is all a page of that size allows cheaply.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

from lxml import etree

from .links import (
    _BOILERPLATE_TAGS,
    _ICON_RELS,
    PageLinks,
    _boilerplate_marker,
    _http_url,
    css_links,
    srcset_urls,
)

__all__ = ["STREAM_ABOVE", "cap_links", "extract_streamed", "parse_streamed"]

STREAM_ABOVE = 4_000_000  # bytes of HTML above which a page is parsed as a stream
_MAIN_TAGS = {"article", "main"}
_MAIN_MARKERS = ("articlebody", "article-body", "story-body", "entry-content", "post-content",
                 "article-content")
_NOT_LINKS = ("#", "data:", "javascript:", "mailto:", "tel:", "about:")
_REQUISITE_TAGS = {"img", "source", "script", "video", "audio", "input", "track", "embed"}


def parse_streamed(data: bytes, target: Any, *, encoding: str | None = None) -> None:
    """Run lxml's HTML parser over `data` into a parser `target` (start/end/data/close).

    The parser reads `data` as a file, not through `feed()`: libxml2 (2.14) keeps every byte
    fed to its HTML push parser until the end, 73-76 MB for a 68 MB page whatever the size of
    the pieces, where reading a file keeps a window (+0 MB, the same CPU;
    benchmarks/history/2026-12-07-and-before.md, p-mem4). A broken or empty document yields
    what was read."""
    parser = etree.HTMLParser(target=target, no_network=True, recover=True, huge_tree=True,
                              encoding=encoding)
    try:
        etree.parse(BytesIO(data), parser)
    except etree.XMLSyntaxError:
        pass


def _is_main(tag: str, attrib: Any) -> bool:
    if tag in _MAIN_TAGS or attrib.get("role") == "main":
        return True
    marker = f"{attrib.get('class', '')} {attrib.get('itemprop', '')}".lower()
    return any(m in marker for m in _MAIN_MARKERS)


def _is_boilerplate(tag: str, attrib: Any) -> bool:
    if tag in _BOILERPLATE_TAGS:
        return True
    cls, ident = attrib.get("class"), attrib.get("id")
    if (cls or ident) and _boilerplate_marker(f"{cls or ''} {ident or ''}"):
        return True
    return attrib.get("role") in ("navigation", "contentinfo", "complementary", "banner")


_TEXT_TAGS = ("a", "title", "style")  # elements whose text is read


class _Links:
    """A parser target: each element is handled when it ends, from its attributes and (a, title,
    style) its text; only the open elements are held."""

    def __init__(self, base_url: str, max_links: int) -> None:
        self.base_url, self.max_links = base_url, max_links
        self.out = PageLinks()
        # Per open element: tag, attributes, inside main content, inside boilerplate, its text.
        self.stack: list[tuple[str, Any, bool, bool, list[str] | None]] = []
        self.texts: list[list[str]] = []  # the text lists of the open a, title and style
        self.req: dict[str, None] = {}
        self.seen: set[str] = set()
        self.has_icon = False

    def add_req(self, raw: str | None) -> None:
        url = _http_url(self.base_url, raw)
        if url and len(self.req) < self.max_links:
            self.req.setdefault(url, None)

    def start(self, tag: str, attrib: Any) -> None:
        main, boiler = self.stack[-1][2:4] if self.stack else (False, False)
        text: list[str] | None = [] if tag in _TEXT_TAGS else None
        if text is not None:
            self.texts.append(text)
        self.stack.append((tag, attrib, main or _is_main(tag, attrib),
                           boiler or _is_boilerplate(tag, attrib), text))

    def data(self, text: str) -> None:
        for t in self.texts:
            t.append(text)

    def end(self, _tag: str) -> None:
        if not self.stack:
            return
        tag, attrib, main, boiler, texts = self.stack.pop()
        text = None
        if texts is not None:
            # Its list is the innermost open one: elements end innermost first. (Not `remove`,
            # which matches by equality: an open <a> and an empty <style> inside it are equal.)
            self.texts.pop()
            text = "".join(texts)
        out = self.out
        if tag == "title" and out.title is None and text:
            out.title = text.strip()
        elif tag == "link":
            rel = (attrib.get("rel") or "").lower().strip()
            if "stylesheet" in rel.split() or rel in _ICON_RELS:
                self.add_req(attrib.get("href"))
                self.has_icon = self.has_icon or rel in _ICON_RELS
        elif tag in _REQUISITE_TAGS:
            if tag != "input" or (attrib.get("type") or "").lower() == "image":
                self.add_req(attrib.get("src"))
                for u in srcset_urls(attrib.get("srcset") or ""):
                    self.add_req(u)
        elif tag == "style":
            for u in css_links(text or "", self.base_url):
                self.add_req(u)
        elif tag in ("a", "area"):
            href = attrib.get("href")
            if len(self.seen) >= self.max_links:
                # Past the cap only counted: resolving a million URLs is most of the cost.
                if href and not href.lstrip().startswith(_NOT_LINKS):
                    out.found += 1
            elif (url := _http_url(self.base_url, href)) and url not in self.seen:
                out.found += 1
                self.seen.add(url)
                raw = (text or "") if tag == "a" else (attrib.get("alt") or "")
                kept = (url, " ".join(raw.split())[:500])
                (out.cited if main and not boiler else out.navigation).append(kept)
        elif tag in ("iframe", "frame"):
            url = _http_url(self.base_url, attrib.get("src"))
            if url and len(out.embeds) < self.max_links:
                out.embeds.append(url)

    def close(self) -> None:
        return None


def extract_streamed(html: bytes, base_url: str, *, max_links: int, guess_favicon: bool = True,
                     encoding: str | None = None) -> PageLinks:
    """Requisites, cited and navigation links and embeds of a big page, at most `max_links` of
    each kind; `PageLinks.found` counts the links seen (past the cap, repeats count again: no
    set of a million URLs is kept to tell)."""
    links = _Links(base_url, max_links)
    parse_streamed(html, links, encoding=encoding)
    if guess_favicon and not links.has_icon:
        links.add_req("/favicon.ico")
    links.out.requisites = list(links.req)
    return links.out


def cap_links(page: PageLinks, max_links: int) -> PageLinks:
    """Keep at most `max_links` links of each kind (cited first in document order)."""
    page.found = max(page.found, len(page.cited) + len(page.navigation))
    page.cited = page.cited[:max_links]
    page.navigation = page.navigation[:max(0, max_links - len(page.cited))]
    page.requisites = page.requisites[:max_links]
    page.embeds = page.embeds[:max_links]
    return page
