"""What an archived page says about itself, for citations and search: title, authors, date, site,
language, description and main text of HTML pages (trafilatura), and of tweets and videos from
their oEmbed JSON."""

from __future__ import annotations

import copy
import html
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

import lxml.html
from lxml import etree

from .metastream import streamed_metadata, too_big_for_trafilatura

__all__ = [
    "PageMetadata", "html_metadata", "looks_like_article", "main_links", "metadata_of", "oembed_metadata",
]

# Search indexes the main text; past this a page is a data dump, not prose to cite.
MAX_TEXT = 200_000
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_HANDLE_RE = re.compile(r"\(@(\w{1,50})\)")
_LANG_RE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")


@dataclass
class PageMetadata:
    """Metadata of one archived page. `kind` is "html", "tweet" or "oembed" (a video's)."""

    kind: str
    title: str | None = None
    authors: list[str] = field(default_factory=list)
    published: str | None = None  # YYYY-MM-DD
    site: str | None = None
    language: str | None = None
    description: str | None = None
    text: str = ""
    handle: str | None = None  # a tweet's author's @handle, without the @
    subject_url: str | None = None  # what an oEmbed document describes (the tweet's URL)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _clean(value: Any, limit: int = 1000) -> str | None:
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    return text[:limit] or None


def _language(doc: etree._Element | None) -> str | None:
    """The page's declared language (<html lang>, Content-Language meta): trafilatura detects a
    language only with an optional model package, and the declaration is what the page says."""
    if doc is None:
        return None
    root = doc.getroottree().getroot()
    lang = root.get("lang") or root.get("{http://www.w3.org/XML/1998/namespace}lang")
    if not lang:
        metas = root.xpath("//meta[translate(@http-equiv,'CONTENTLAG','contentlag')='content-language']")
        lang = metas[0].get("content") if metas else None
    lang = (lang or "").strip().split(",")[0].strip()
    return lang.lower() if lang and _LANG_RE.match(lang) else None


def _parse(data: bytes) -> etree._Element | None:
    try:
        return lxml.html.document_fromstring(data)
    except (etree.ParserError, ValueError):
        return None


def _date_params() -> dict[str, Any]:
    """htmldate's options: the date a page declares (meta tags, JSON-LD, <time>, the URL, elements
    classed as dates), without its "extensive" last resort, a dozen regular expressions over the
    whole page's text. That resort was a third of the CPU of a crawl of the bench site
    (benchmarks/history/2026-12-07-and-before.md, p-cpu4: 5.3 of 6.8 ms per page); on the
    shared corpus's 31 news articles every field stays the same; on its older pages
    (archive.org, 2008) 90 of 236 lose a
    date it guessed from the body: forum posts their day, but most were a footer's or a listing's
    date (a login page "2001-03-10", a concert list "1995-03-19"), wrong for a citation."""
    from trafilatura.settings import set_date_params

    return set_date_params(extensive=False)


_EXTRACTOR: dict[str, Any] = {}  # the day's trafilatura options, by that day (see _options)


def _options(url: str) -> Any:
    """trafilatura's options for one page: a copy of one `Extractor` per day (its date parameters
    hold the day, the latest date a page may claim) with the page's URL. bare_extraction given
    keywords builds an Extractor per call, reading a dozen values from trafilatura's
    ConfigParser: 0.25 of 18 million instructions (1.4%) of a 24 KB bench page, in the indexer
    beside every crawl (benchmarks/history/2026-12-07-p-ext7-night.md). trafilatura supports a
    shared Extractor (its recall retry copies the one it changes); the copy here keeps the URL
    per page. tests/crawler/test_metadata_options.py holds the copy equal to what bare_extraction
    builds."""
    from trafilatura.settings import Extractor

    date_params = _date_params()
    base = _EXTRACTOR.get(date_params["max_date"])
    if base is None:
        _EXTRACTOR.clear()
        base = _EXTRACTOR[date_params["max_date"]] = Extractor(
            output_format="python", with_metadata=True, comments=False, tables=True, recall=True,
            date_params=date_params,
        )
    options = copy.copy(base)
    options.date_params = dict(base.date_params)  # htmldate's, given the page's URL per page
    options.url = url
    options.source = url and url.encode("utf-8", "replace").decode("utf-8")
    return options


def warm_up() -> None:
    """Build what trafilatura builds on its first fallback to justext, in a fork server that
    serves many jobs (`serve`, `worker`), for every child forked after it: trafilatura's stop
    list of all languages (100 files, 154,484 words) and justext's lower-cased frozenset of it.
    A child built both again on its first such page, 0.14 s of CPU in each job's page indexer
    (justext runs on a third of the shared corpus's non-article pages; benchmarks/history/
    2026-12-07-p-ext7-night.md). Not for `add`'s one job: there it only moves the cost, and an
    article alone never needs it."""
    from justext.core import define_stoplist  # type: ignore[import-untyped]
    from trafilatura import external

    define_stoplist(external.JT_STOPLIST or external.jt_stoplist_init())


def html_metadata(data: bytes, url: str) -> PageMetadata:
    """Metadata and main text of an HTML page, as trafilatura finds them (JSON-LD, OpenGraph,
    meta tags, then the page's text); the <title> and the page's own text when it finds none.
    A page too big for trafilatura's memory is read as a stream (metastream.py)."""
    if too_big_for_trafilatura(data):
        return PageMetadata(kind="html", **streamed_metadata(data, max_text=MAX_TEXT))
    import trafilatura  # heavy (dateparser, justext): imported where pages are indexed only

    doc = _parse(data)
    if doc is None:
        return PageMetadata(kind="html")
    meta = PageMetadata(kind="html", language=_language(doc))
    try:
        found = trafilatura.bare_extraction(doc, url=url, options=_options(url))
    except Exception:  # a page trafilatura cannot read is still archived
        found = None
    info: dict[str, Any] = {}
    if isinstance(found, dict):
        info = found
    elif found is not None:
        info = found.as_dict()
    meta.title = _clean(info.get("title"))
    author = _clean(info.get("author"))
    meta.authors = [a.strip() for a in author.split(";") if a.strip()] if author else []
    meta.published = _clean(info.get("date"), 10)
    meta.site = _clean(info.get("sitename"))
    meta.description = _clean(info.get("description"), 2000)
    meta.text = (info.get("text") or "")[:MAX_TEXT]
    full_title = _clean(doc.findtext(".//title"))
    host = (urlsplit(url).hostname or "").removeprefix("www.")
    if full_title and meta.title and full_title.startswith(meta.title) and (
        meta.site is None or meta.site.lower().removeprefix("www.") == host
    ):
        # "Statement on ... | EPA": the <title>'s suffix names the site better than a host name.
        meta.site = full_title[len(meta.title):].strip(" |-\u2013\u2014:\u00b7") or meta.site
    if meta.title is None:
        meta.title = full_title
    if not meta.text:
        body = doc.find("body")
        meta.text = " ".join((body.text_content() if body is not None else "").split())[:MAX_TEXT]
    return meta


# An article declares itself: og:type article, an <article> element, or schema.org's *Article in
# JSON-LD (30 of the 31 real articles of the shared corpus do; iana.org's home page does not).
_ARTICLE = re.compile(
    rb"og:type[\"']\s+content=[\"']article"
    rb"|content=[\"']article[\"']\s+property=[\"']og:type"
    rb"|<article[\s>]"
    rb'|"@type"\s*:\s*"(?:News|Blog|Report|Scholarly)?Article"',
    re.I,
)


def looks_like_article(data: bytes) -> bool:
    """Whether a page says it is an article. Only then do trafilatura's main-content links decide
    what it cites: on a home or index page (no main text) its few links would drop the sections
    a reader follows, which the container heuristics of links.py keep."""
    return _ARTICLE.search(data) is not None


def main_links(data: bytes, url: str) -> set[str]:
    """The URLs linked from the main content as trafilatura finds it (empty when it finds none).
    On the 31 real articles of benchmarks/extraction.py it tells cited links from navigation
    better than links.py's container heuristics (precision 0.91 vs 0.79, recall 0.91 vs 0.88).
    Empty for a page too big for trafilatura's memory (metastream.py): the heuristics decide."""
    if too_big_for_trafilatura(data):
        return set()
    import trafilatura

    try:
        xml = trafilatura.extract(
            data, url=url, output_format="xml", include_links=True, include_comments=False,
            include_tables=True, favor_recall=True, with_metadata=False,
        )
        root = etree.fromstring(xml.encode()) if xml else None
    except Exception:  # fall back to the heuristics of links.py
        return set()
    out: set[str] = set()
    for ref in root.iter("ref") if root is not None else ():
        target = (ref.get("target") or "").strip()
        try:
            out.add(urldefrag(urljoin(url, target))[0])
        except ValueError:
            continue
    return out


def _tweet_date(blockquote_html: str) -> str | None:
    """The date a tweet's embed shows ("November 2, 2026", the last link's text), as YYYY-MM-DD."""
    doc = _parse(blockquote_html.encode())
    links = doc.xpath("//blockquote//a") if doc is not None else []
    if not links:
        return None
    text = " ".join(links[-1].text_content().split())
    for fmt in ("%B %d, %Y", "%b %d, %Y", "%d %B %Y"):
        try:
            return datetime.strptime(text, fmt).strftime("%Y-%m-%d")
        except ValueError:
            continue
    return None


def oembed_metadata(data: bytes, url: str) -> PageMetadata | None:
    """Metadata of an oEmbed JSON document: a tweet's author, handle, date and text, or a video's
    title and channel. None when it is not an oEmbed document."""
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    if not isinstance(doc, dict) or not ("html" in doc or "title" in doc):
        return None
    provider = _clean(doc.get("provider_name"))
    author = _clean(doc.get("author_name"))
    raw_embed = doc.get("html")
    embed: str = raw_embed if isinstance(raw_embed, str) else ""
    if provider in ("Twitter", "X") or "twitter-tweet" in embed:
        parsed = _parse(embed.encode()) if embed else None
        paras = parsed.xpath("//blockquote/p") if parsed is not None else []
        text = " ".join(" ".join(p.text_content().split()) for p in paras)
        raw_author_url = doc.get("author_url")
        author_url: str = raw_author_url if isinstance(raw_author_url, str) else ""
        handle: str | None = urlsplit(author_url).path.strip("/").split("/")[0] or None
        if handle is None and (m := _HANDLE_RE.search(html.unescape(embed))):
            handle = m.group(1)
        lang = paras[0].get("lang") if paras else None
        return PageMetadata(
            kind="tweet", title=(f"{author} on X" if author else None), authors=[author] if author else [],
            published=_tweet_date(embed) if embed else None, site=provider or "Twitter",
            language=lang if lang and _LANG_RE.match(lang) else None, text=text[:MAX_TEXT],
            handle=handle, subject_url=_clean(doc.get("url")),
        )
    return PageMetadata(
        kind="oembed", title=_clean(doc.get("title")), authors=[author] if author else [],
        site=provider, text=_clean(doc.get("title"), MAX_TEXT) or "", subject_url=_clean(doc.get("url")),
    )


def metadata_of(mime: str | None, data: bytes, url: str) -> PageMetadata | None:
    """Metadata of an archived payload by its type: HTML pages and oEmbed JSON; None otherwise."""
    if mime in _HTML_TYPES:
        return html_metadata(data, url)
    if mime in ("application/json", "application/json+oembed", "text/json") and "oembed" in url:
        return oembed_metadata(data, url)
    return None
