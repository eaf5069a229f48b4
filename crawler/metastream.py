"""Metadata and text of pages too big for trafilatura, in one streaming pass that builds no tree.

trafilatura parses a page into an lxml tree and copies it while it looks for the main content:
about 80 MB for a hub of 10,000 links (700 KB of HTML), 160 MB for 2 MB, in the page indexer
that runs beside every crawl (benchmarks/history/2026-12-07-and-before.md, p-perf3, item 1).
Past `TRAFILATURA_MAX_TAGS` tags or `TRAFILATURA_MAX_BYTES` bytes a page is read here instead:
lxml's HTML parser calls back per tag
and per run of text, so memory holds the strings kept, however big the page. What it finds is
coarser: the head's meta tags, not JSON-LD; the whole body's text, not its main content.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

__all__ = ["TRAFILATURA_MAX_BYTES", "TRAFILATURA_MAX_TAGS", "streamed_metadata", "too_big_for_trafilatura"]

TRAFILATURA_MAX_BYTES = 2_000_000
# Start and end tags (b"<" counted): twice the most of the shared corpus's 31 real articles
# (10,305); a list of 5,000 links, which trafilatura reads in about 55 MB.
TRAFILATURA_MAX_TAGS = 20_000
_FEED = 1 << 16
_SKIP = {"script", "style", "noscript", "template", "svg", "head"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_META_KEYS = {
    "og:title": "title", "twitter:title": "title",
    "description": "description", "og:description": "description",
    "og:site_name": "site", "application-name": "site",
    "author": "author", "article:author": "author",
    "article:published_time": "published", "datepublished": "published", "date": "published",
    "dc.date": "published", "pubdate": "published",
    "content-language": "language",
}


def too_big_for_trafilatura(data: bytes) -> bool:
    """Whether trafilatura's tree of this page would cost more memory than a page indexer may
    take (counting b"<" is C speed: a few ms for megabytes)."""
    return len(data) > TRAFILATURA_MAX_BYTES or data.count(b"<") > TRAFILATURA_MAX_TAGS


class _Collector:
    """The parser's target: what the page's head declares, and its body's text up to `limit`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.meta: dict[str, str] = {}
        self.title: list[str] = []
        self.text: list[str] = []
        self.size = 0
        self.lang: str | None = None
        self.skip = 0  # depth inside elements whose text is not the page's (script, style, head)
        self.in_title = False

    @property
    def full(self) -> bool:
        return self.size >= self.limit

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        if tag == "html" and self.lang is None:
            self.lang = attrib.get("lang") or attrib.get("xml:lang")
        elif tag == "title" and not self.title:
            self.in_title = True
        elif tag == "meta":
            key = (attrib.get("property") or attrib.get("name") or attrib.get("itemprop")
                   or attrib.get("http-equiv") or "").strip().lower()
            field = _META_KEYS.get(key)
            content = attrib.get("content")
            if field and content and field not in self.meta:
                self.meta[field] = content
        if tag in _SKIP:
            self.skip += 1

    def end(self, tag: str) -> None:
        if tag in _SKIP and self.skip:
            self.skip -= 1
        if tag == "title":
            self.in_title = False

    def data(self, text: str) -> None:
        if self.in_title:
            self.title.append(text)
        elif not self.skip and not self.full and (words := text.split()):
            piece = " ".join(words)
            self.text.append(piece)
            self.size += len(piece) + 1

    def close(self) -> None:
        return None


def _clean(value: str | None, limit: int = 1000) -> str | None:
    text = " ".join((value or "").split())
    return text[:limit] or None


def streamed_metadata(data: bytes, *, max_text: int, encoding: str | None = None) -> dict[str, Any]:
    """Title, authors, date, site, language, description and body text (at most `max_text`
    characters) of a big HTML page, as the keyword arguments of `PageMetadata`."""
    target = _Collector(max_text)
    parser = etree.HTMLParser(target=target, no_network=True, recover=True, huge_tree=True,
                              encoding=encoding)
    for start in range(0, max(len(data), 1), _FEED):
        if target.full:
            break  # the head is read, the text is full: the rest cannot change the result
        parser.feed(data[start:start + _FEED])
    try:
        parser.close()
    except etree.XMLSyntaxError:  # an empty or broken document: what was read stands
        pass
    meta = target.meta
    lang = (target.lang or meta.get("language") or "").strip().split(",")[0].strip().lower()
    published = (meta.get("published") or "").strip()
    author = _clean(meta.get("author"))
    return {
        "title": _clean(meta.get("title")) or _clean("".join(target.title)),
        "authors": [a.strip() for a in author.split(";") if a.strip()] if author else [],
        "published": published[:10] if _DATE.match(published) else None,
        "site": _clean(meta.get("site")),
        "language": lang if re.match(r"^[a-z]{2,3}(?:-[a-z0-9]{2,8})*$", lang) else None,
        "description": _clean(meta.get("description"), 2000),
        "text": " ".join(target.text)[:max_text],
    }
