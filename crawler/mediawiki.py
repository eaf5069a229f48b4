"""Cited sources of MediaWiki pages (Wikipedia and other wikis): the external links of the
references and of the "External links" section, never the wiki's own links (articles,
Category:, File:, Special:, edit links), which the generic main-content rules would cite."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from lxml import etree

__all__ = ["is_mediawiki", "mediawiki_cited"]

# Where a wiki page keeps its sources: the footnote lists, and the section named so.
_REFERENCE_LISTS = (
    "//ol[contains(concat(' ', normalize-space(@class), ' '), ' references ')]"
    "|//div[contains(concat(' ', normalize-space(@class), ' '), ' reflist ')]"
    "|//div[contains(concat(' ', normalize-space(@class), ' '), ' refbegin ')]"
)
_SOURCE_SECTIONS = {"external links", "external link", "references", "notes", "sources", "bibliography",
                    "further reading", "citations", "works cited"}


def is_mediawiki(doc: etree._Element) -> bool:
    """A page rendered by MediaWiki: its generator meta tag, or the skin's body/content markup."""
    gen = doc.xpath("string(//meta[@name='generator']/@content)")
    if str(gen).startswith("MediaWiki"):
        return True
    body = doc.find("body")
    classes = f" {body.get('class', '')} " if body is not None else ""
    return " mediawiki " in classes and bool(doc.xpath("//*[@id='mw-content-text']"))


def _heading_text(el: etree._Element) -> str:
    span = el.xpath(".//*[contains(concat(' ', normalize-space(@class), ' '), ' mw-headline ')]")
    text = (span[0] if span else el).text_content()
    return " ".join(text.replace("[edit]", "").split()).strip().lower()


def _section_nodes(doc: etree._Element) -> list[etree._Element]:
    """Elements of the sections whose heading names sources ("External links", "References"),
    up to the next heading of the same or a higher level."""
    out: list[etree._Element] = []
    for h in doc.xpath("//h2|//h3"):
        # Newer skins wrap the heading: <div class="mw-heading"><h2 id="External_links">...</h2></div>
        start = h.getparent() if h.getparent() is not None and "mw-heading" in (
            h.getparent().get("class") or "") else h
        if _heading_text(h) not in _SOURCE_SECTIONS:
            continue
        level = h.tag
        for sib in start.itersiblings():
            tag = sib.tag if isinstance(sib.tag, str) else ""
            inner = sib.xpath(".//h2|.//h3") if tag not in ("h2", "h3") else [sib]
            if tag in ("h2", "h3") or "mw-heading" in (sib.get("class") or ""):
                if tag == "h2" or level == "h3" or (inner and inner[0].tag == "h2"):
                    break
            out.append(sib)
    return out


def mediawiki_cited(
    doc: etree._Element, page_url: str, absolute: Callable[[str | None], str | None]
) -> list[tuple[str, str]] | None:
    """(url, anchor text) of the sources a MediaWiki page cites, in page order; None when the page
    is not a MediaWiki page. `absolute` makes an href absolute (None for ones to skip)."""
    if not is_mediawiki(doc):
        return None
    own_host = urlsplit(page_url).hostname or ""
    containers = list(doc.xpath(_REFERENCE_LISTS)) + _section_nodes(doc)
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    for a in doc.iter("a"):
        if not any(a is c or _inside(a, c) for c in containers):
            continue
        url = absolute(a.get("href"))
        if not url or url in seen:
            continue
        classes = f" {a.get('class', '')} "
        host = urlsplit(url).hostname or ""
        # Wiki links stay on the wiki, even those the skin marks "external" (navbox edit links),
        # and interwiki/sister-project links are marked so: sources live elsewhere.
        if host == own_host:
            continue
        if " extiw " in classes or "/wiki/" in urlsplit(url).path and " external " not in classes:
            continue
        seen.add(url)
        out.append((url, " ".join(a.text_content().split())[:500]))
    return out


def _inside(el: etree._Element, ancestor: etree._Element) -> bool:
    return any(p is ancestor for p in el.iterancestors())
