"""Links of pages too big to parse whole: one streaming pass with lxml's pull parser, elements
dropped as soon as they end, so memory stays flat however big the page; and a cap on the links
kept per page.

A 32 MB page of a million links took 2.2 GB and a minute as one lxml tree with the full
main-content analysis of links.py; streamed, it holds one branch of the tree at a time. The
classification is coarser (a link inside article/main and outside navigation, footers and
sidebars is cited), which is all a page of that size allows cheaply.
"""

from __future__ import annotations

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

__all__ = ["STREAM_ABOVE", "cap_links", "extract_streamed"]

STREAM_ABOVE = 4_000_000  # bytes of HTML above which a page is parsed as a stream
_FEED = 1 << 16
_MAIN_TAGS = {"article", "main"}
_MAIN_MARKERS = ("articlebody", "article-body", "story-body", "entry-content", "post-content",
                 "article-content")
_NOT_LINKS = ("#", "data:", "javascript:", "mailto:", "tel:", "about:")
_REQUISITE_TAGS = {"img", "source", "script", "video", "audio", "input", "track", "embed"}


def _is_main(el: etree._Element) -> bool:
    if el.tag in _MAIN_TAGS or el.get("role") == "main":
        return True
    marker = f"{el.get('class', '')} {el.get('itemprop', '')}".lower()
    return any(m in marker for m in _MAIN_MARKERS)


def _is_boilerplate(el: etree._Element) -> bool:
    if el.tag in _BOILERPLATE_TAGS:
        return True
    cls, ident = el.get("class"), el.get("id")
    if (cls or ident) and _boilerplate_marker(f"{cls or ''} {ident or ''}"):
        return True
    return el.get("role") in ("navigation", "contentinfo", "complementary", "banner")


def extract_streamed(html: bytes, base_url: str, *, max_links: int, guess_favicon: bool = True,
                     encoding: str | None = None) -> PageLinks:
    """Requisites, cited and navigation links and embeds of a big page, at most `max_links` of
    each kind; `PageLinks.found` counts the links seen (past the cap, repeats count again: no
    set of a million URLs is kept to tell)."""
    out = PageLinks()
    parser = etree.HTMLPullParser(events=("start", "end"), no_network=True, recover=True,
                                  huge_tree=True, encoding=encoding)
    stack: list[tuple[bool, bool]] = []  # (inside main content, inside boilerplate) per open element
    req: dict[str, None] = {}
    seen: set[str] = set()
    has_icon = False

    def add_req(raw: str | None) -> None:
        url = _http_url(base_url, raw)
        if url and len(req) < max_links:
            req.setdefault(url, None)

    for start in range(0, max(len(html), 1), _FEED):
        parser.feed(html[start:start + _FEED])
        for event, el in parser.read_events():
            if not isinstance(el.tag, str):
                continue
            if event == "start":
                main, boiler = stack[-1] if stack else (False, False)
                stack.append((main or _is_main(el), boiler or _is_boilerplate(el)))
                continue
            main, boiler = stack.pop() if stack else (False, False)
            tag = el.tag
            if tag == "title" and out.title is None and el.text:
                out.title = el.text.strip()
            elif tag == "link":
                rel = (el.get("rel") or "").lower().strip()
                if "stylesheet" in rel.split() or rel in _ICON_RELS:
                    add_req(el.get("href"))
                    has_icon = has_icon or rel in _ICON_RELS
            elif tag in _REQUISITE_TAGS:
                if tag != "input" or (el.get("type") or "").lower() == "image":
                    add_req(el.get("src"))
                    for u in srcset_urls(el.get("srcset") or ""):
                        add_req(u)
            elif tag == "style":
                for u in css_links(el.text or "", base_url):
                    add_req(u)
            elif tag in ("a", "area"):
                href = el.get("href")
                if len(seen) >= max_links:
                    # Past the cap only counted: resolving a million URLs is most of the cost.
                    if href and not href.lstrip().startswith(_NOT_LINKS):
                        out.found += 1
                elif (url := _http_url(base_url, href)) and url not in seen:
                    out.found += 1
                    seen.add(url)
                    raw = "".join(el.itertext()) if tag == "a" else el.get("alt") or ""
                    text = " ".join(raw.split())[:500]
                    (out.cited if main and not boiler else out.navigation).append((url, text))
            elif tag in ("iframe", "frame"):
                url = _http_url(base_url, el.get("src"))
                if url and len(out.embeds) < max_links:
                    out.embeds.append(url)
            # Done with it: drop it and what came before it, so the tree never grows.
            el.clear(keep_tail=False)
            parent = el.getparent()
            if parent is not None:
                while el.getprevious() is not None:
                    del parent[0]
    parser.close()
    if guess_favicon and not has_icon:
        add_req("/favicon.ico")
    out.requisites = list(req)
    return out


def cap_links(page: PageLinks, max_links: int) -> PageLinks:
    """Keep at most `max_links` links of each kind (cited first in document order)."""
    page.found = max(page.found, len(page.cited) + len(page.navigation))
    page.cited = page.cited[:max_links]
    page.navigation = page.navigation[:max(0, max_links - len(page.cited))]
    page.requisites = page.requisites[:max_links]
    page.embeds = page.embeds[:max_links]
    return page
