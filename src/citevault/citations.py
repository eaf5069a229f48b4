"""Citations of a source: the article and each source it cites, each with its archived copy, as
Robust Links HTML, Markdown, plain text, BibTeX or Wikipedia's {{cite web}} (citestyles.py).

A source's title, author, date and site come from its archived page's metadata (storage/pages.py),
a tweet's from its archived oEmbed document. Without metadata, the title is the page's <title> only
when that copy is a usable page (answered < 400, HTML, a title that is not an error page's);
otherwise the article's anchor text, then the URL.
A copy that answered HTTP >= 400 when captured is an archived error page, and no format presents it as
the archived copy: Robust Links HTML gives a plain link without data-versionurl, Markdown and text say
the page answered HTTP N when captured, and BibTeX leaves out howpublished and urldate and says the
same in its note. Only the JSON form lists such a copy, marked "usable": false."""

from __future__ import annotations

import html
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import lxml.html
from sqlalchemy import select
from warcio.timeutils import timestamp_to_iso_date

from citevault.storage.errors import BadInput, CitevaultError
from citevault.storage.index import get_source, surt_key
from citevault.storage.models import HTML_TYPES, Capture, Link, Snapshot
from citevault.storage.pages import PageInfo, page_info, tweet_page

from . import citestyles
from .archive import Archive
from .citestyles import FORMATS
from .memento import replay_url
from .tweets import archived_tweet

__all__ = [
    "FORMATS",
    "ArchivedCopy",
    "CaptureSet",
    "Citation",
    "cite",
    "is_error_title",
    "page_title",
    "source_title",
    "render",
    "replay_url",
    "source_captures",
    "source_citations",
]

_MAX_HOPS = 10
_TITLE_BYTES = 5_000_000  # a title is near the top; do not parse huge payloads to find one
# A title (or one part of it, split at " | ", " - ", ...) that names an error, not a page: soft 404s
# and bot walls answer 200 with these.
_ERROR_PHRASE = (
    r"error(?: page)?|(?:page|file|document|content|resource)?\s*not found|forbidden|access denied"
    r"|unauthori[sz]ed|bad request|(?:internal )?server error|service (?:temporarily )?unavailable"
    r"|(?:page|site) (?:temporarily )?unavailable|bad gateway|gateway time-?out|too many requests"
    r"|just a moment|attention required|oops|sorry|something went wrong|request rejected"
)
_ERROR_CODE = r"(?:http\s*)?(?:error\s*)?[45]\d\d(?:\s*error)?"
_ERROR_TITLE = re.compile(
    rf"(?:{_ERROR_CODE}(?:\s*[-:.]?\s*(?:{_ERROR_PHRASE}|gone))?|{_ERROR_PHRASE})", re.I
)
_TITLE_PARTS = re.compile(r"\s*[|\u2013\u2014\u00b7\u2022]\s*|\s+[-:]\s+|:\s+")


@dataclass(frozen=True)
class ArchivedCopy:
    """The capture a citation points at: the final one after redirects."""

    capture_id: int
    url: str  # the URL actually captured (where redirects led)
    timestamp: str  # YYYYMMDDhhmmss, UTC
    status: int | None
    mime: str | None
    replay_url: str

    @classmethod
    def from_capture(cls, cap: Capture, base_url: str) -> ArchivedCopy:
        return cls(
            capture_id=cap.id, url=cap.url, timestamp=cap.timestamp, status=cap.status, mime=cap.mime,
            replay_url=replay_url(base_url, cap.timestamp, cap.url),
        )

    @property
    def date(self) -> str:
        """YYYY-MM-DD, as Robust Links' data-versiondate wants it."""
        return str(timestamp_to_iso_date(self.timestamp))[:10]

    @property
    def datetime(self) -> str:
        return str(timestamp_to_iso_date(self.timestamp))[:19].replace("T", " ") + " UTC"

    @property
    def usable(self) -> bool:
        """A copy of the content, not of an error page."""
        return self.status is None or self.status < 400


@dataclass(frozen=True)
class Citation:
    """The article (kind "article") or one source it cites (kind "cited")."""

    kind: str
    url: str  # as cited
    title: str
    anchor_text: str | None
    copy: ArchivedCopy | None
    reason: str | None = None  # why there is no usable archived copy
    page: PageInfo | None = None  # what the archived copy says about itself (author, date, site)

    def as_json(self) -> dict[str, Any]:
        c = self.copy
        return {
            "kind": self.kind,
            "url": self.url,
            "title": self.title,
            "anchor_text": self.anchor_text,
            "archived": None if c is None else {
                "url": c.url, "timestamp": c.timestamp, "date": c.date, "status": c.status,
                "mime": c.mime, "replay_url": c.replay_url, "usable": c.usable,
            },
            "reason": self.reason,
            "metadata": self.page.as_json() if self.page is not None else None,
        }


class CaptureSet:
    """Captures of some snapshots, looked up by URL with redirects followed."""

    def __init__(self, captures: Iterable[Capture]) -> None:
        self._by_surt: dict[str, list[Capture]] = defaultdict(list)
        self._children: dict[int, list[Capture]] = defaultdict(list)
        for c in captures:
            self._by_surt[c.surt].append(c)
            if c.parent_id is not None:
                self._children[c.parent_id].append(c)
        for caps in self._by_surt.values():
            caps.sort(key=lambda c: (c.timestamp, c.id), reverse=True)

    def newest(self, url: str, *, after: str | None = None) -> Capture | None:
        """The newest capture of `url` with a WARC record (the exact URL before SURT-equal ones)."""
        cands = [
            c for c in self._by_surt.get(surt_key(url), [])
            if c.warc is not None and (after is None or c.timestamp >= after)
        ]
        exact = [c for c in cands if c.url == url]
        best = exact or cands
        return best[0] if best else None

    def attempts(self, url: str) -> list[Capture]:
        """Every capture of `url`, newest first, failed fetches included."""
        return list(self._by_surt.get(surt_key(url), []))

    def final(self, url: str) -> Capture | None:
        """The newest capture of `url` with a record, redirects followed to the page they lead to
        (or to the last hop that has a record)."""
        cap = self.newest(url)
        seen: set[int] = set()
        while cap is not None and cap.redirect_to and cap.id not in seen and len(seen) < _MAX_HOPS:
            seen.add(cap.id)
            target = cap.redirect_to
            hop = next(
                (c for c in self._children.get(cap.id, [])
                 if c.warc is not None and surt_key(c.url) == surt_key(target)),
                None,
            ) or self.newest(target, after=cap.timestamp)
            if hop is None:
                break
            cap = hop
        return cap

    def failure(self, url: str) -> str:
        """Why `url` has no archived copy here."""
        errors = [c.error for c in self.attempts(url) if c.error]
        return f"not archived: {errors[0]}" if errors else "not archived: no capture of this URL"


def page_title(archive: Archive, cap: Capture) -> str | None:
    """The <title> of an archived HTML page, or None."""
    if cap.mime not in HTML_TYPES or not cap.length or cap.length > _TITLE_BYTES:
        return None
    try:
        _, rec = archive.resolve(cap)
        data = rec.decoded
    except CitevaultError:
        return None
    ctype = rec.http_headers.get_header("Content-Type") if rec.http_headers else None
    m = re.search(r"charset=[\"']?([\w.:-]+)", ctype or "", re.I)
    try:
        parser = lxml.html.HTMLParser(encoding=m.group(1)) if m else None
        doc = lxml.html.document_fromstring(data, parser=parser)
    except (LookupError, ValueError, lxml.etree.ParserError):
        return None
    title = " ".join((doc.findtext(".//title") or "").split())
    return title or None


def is_error_title(title: str) -> bool:
    """Whether a page title names an error ("404 Not Found", "Page not found | Site", ...)."""
    parts = (p.strip(" .!\u2026") for p in _TITLE_PARTS.split(title))
    return any(_ERROR_TITLE.fullmatch(p) for p in parts if p)


def source_title(archive: Archive, cap: Capture | None, anchor: str | None, url: str) -> str:
    """The title to cite a source by: the <title> of its archived copy `cap` when that is a usable
    page (answered < 400, HTML, a title that is not an error page's), else the anchor text it was
    cited with, else its URL. A tweet is titled by its author, handle and text (tweets.py)."""
    if cap is not None and (cap.status is None or cap.status < 400):
        tweet = archived_tweet(archive, cap)  # a tweet's page title says only "X"
        if tweet is not None:
            return tweet.title
        title = page_title(archive, cap)
        if title and not is_error_title(title):
            return title
    return " ".join((anchor or "").split()) or url


def _citation(
    archive: Archive, caps: CaptureSet, kind: str, url: str, anchor: str | None, base_url: str
) -> Citation:
    final = caps.final(url)
    copy = ArchivedCopy.from_capture(final, base_url) if final is not None else None
    page = None
    if copy is not None and copy.usable and final is not None:
        with archive.index.session() as s:
            # A tweet's page is a script shell: its words are in the archived oEmbed document.
            page = tweet_page(s, final.url) or tweet_page(s, url) or page_info(s, final)
    if page is not None and page.kind == "html":
        # A soft 404 answers 200 with an error page's <title>: its metadata is the error page's.
        html_title = page_title(archive, final) if final is not None else None
        if (html_title and is_error_title(html_title)) or not page.title or is_error_title(page.title):
            page = None
    title = citestyles.tweet_title(page) or (
        page.title if page is not None and page.kind == "html" and page.title else None
    ) or source_title(archive, final, anchor, url)
    reason = None
    if copy is None:
        reason = caps.failure(url)
    elif not copy.usable:
        reason = f"the page answered HTTP {copy.status} when it was captured on {copy.date}"
        if copy.url != url:
            reason += f" (redirected to {copy.url})"
    return Citation(kind=kind, url=url, title=title, anchor_text=anchor, copy=copy, reason=reason, page=page)


def source_captures(archive: Archive, source_id: int) -> tuple[str, CaptureSet]:
    """The source's URL and every capture of all its snapshots."""
    with archive.index.session() as s:
        src = get_source(s, source_id)
        rows = s.scalars(
            select(Capture).join(Snapshot, Capture.snapshot_id == Snapshot.id)
            .where(Snapshot.source_id == src.id)
        ).all()
        s.expunge_all()
        return src.url, CaptureSet(rows)


def source_citations(archive: Archive, source_id: int, base_url: str) -> list[Citation]:
    """The article (first), then each source it cites, in the order the article cites them, with
    the newest archived copy of each. Cited links are those of the article's archived copy."""
    url, caps = source_captures(archive, source_id)
    article = _citation(archive, caps, "article", url, None, base_url)
    out = [article]
    if article.copy is None:
        return out
    with archive.index.session() as s:
        links = s.execute(
            select(Link.url, Link.text)
            .where(Link.capture_id == article.copy.capture_id, Link.kind == "cited")
            .order_by(Link.id)
        ).all()
    seen: set[str] = set()
    for link_url, text in links:
        if link_url in seen:
            continue
        seen.add(link_url)
        out.append(_citation(archive, caps, "cited", link_url, text, base_url))
    return out


# -- formats -----------------------------------------------------------------------------------------
def _attr(value: str) -> str:
    return html.escape(value, quote=True)


def robust_link(c: Citation) -> str:
    """One <a> element: href the original URL, the archived copy in data-versionurl."""
    text = html.escape(c.title, quote=False)
    if c.copy is None or not c.copy.usable:
        return f'<a href="{_attr(c.url)}">{text}</a>'
    return (
        f'<a href="{_attr(c.url)}" data-originalurl="{_attr(c.url)}" '
        f'data-versionurl="{_attr(c.copy.replay_url)}" data-versiondate="{c.copy.date}">{text}</a>'
    )


def render(citations: Sequence[Citation], fmt: str, *, source_id: int | None = None) -> str:
    """The citations in one format (see FORMATS): the article first, then what it cites."""
    if fmt not in FORMATS:
        raise BadInput(f"unknown citation format {fmt!r}: want one of {', '.join(FORMATS)}")
    if not citations:
        return ""
    article, cited = citations[0], list(citations[1:])
    if fmt == "bibtex":
        prefix = f"citevault{source_id}" if source_id is not None else "citevault"
        entries = [citestyles.bibtex(c, f"{prefix}" if i == 0 else f"{prefix}-{i}")
                   for i, c in enumerate(citations)]
        return "\n\n".join(entries) + "\n"
    if fmt == "robust-html":
        lines = [robust_link(article)]
        if cited:
            lines += ["<ul>"] + [f"  <li>{robust_link(c)}</li>" for c in cited] + ["</ul>"]
        return "\n".join(lines) + "\n"
    if fmt == "markdown":
        lines = [citestyles.markdown(article)]
        if cited:
            lines += ["", "Sources cited:", ""] + [f"- {citestyles.markdown(c)}" for c in cited]
        return "\n".join(lines) + "\n"
    if fmt == "wikipedia":
        lines = [citestyles.wikipedia(article)]
        if cited:
            lines += ["", "Sources cited:"] + [f"* {citestyles.wikipedia(c)}" for c in cited]
        return "\n".join(lines) + "\n"
    lines = [citestyles.text(article)]
    if cited:
        lines += ["", "Sources cited:"] + [f"{i}. {citestyles.text(c)}" for i, c in enumerate(cited, 1)]
    return "\n".join(lines) + "\n"


def cite(archive: Archive, source_id: int, fmt: str, base_url: str) -> str:
    """Citation text of a source, in one of FORMATS."""
    if fmt not in FORMATS:
        raise BadInput(f"unknown citation format {fmt!r}: want one of {', '.join(FORMATS)}")
    return render(source_citations(archive, source_id, base_url), fmt, source_id=source_id)
