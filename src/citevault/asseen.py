"""The "as seen" replay of a page captured in a browser: the rendered DOM that browser capture
recorded (`urn:dom:<url>`: the script-built text, the images scripts inserted, embedded tweets
rendered) with its links rewritten into the archive and every script removed, the screenshots
(`urn:view:`, `urn:fullPage:`) one click away; and a tweet's author, handle, date and text, read
from its archived oEmbed JSON, on the replay of its status page.

Why this and not live-script replay (see docs/replay.md): the DOM is what the reader saw, taken
at capture time, so replay needs no archived script to run again and finds nothing missing when
a script would have asked for something else this time (a new cache-buster, a clock, a random
ad slot). Nothing on the page can reach the live web or act on the service.
"""

from __future__ import annotations

import functools
import html
from dataclasses import dataclass
from typing import TYPE_CHECKING

import lxml.html
from lxml import etree
from sqlalchemy import Select, String, bindparam, select
from sqlalchemy.orm import Session

from citevault.crawler.links import is_tweet_status
from citevault.storage.errors import CitevaultError
from citevault.storage.index import surt_key, timestamp_to_datetime
from citevault.storage.models import HTML_TYPES, Capture

from .replay import Replayed, Rewriter
from .tweets import Tweet, archived_tweet

if TYPE_CHECKING:
    from citevault.storage.warcreader import ArchivedPayload

    from .archive import Archive

__all__ = ["SEEN_CSP", "PageViews", "as_seen", "page_views", "rendered_record", "seen_html"]

# The as-seen page has no script of its own to run: none may run (the sandbox without
# allow-scripts); images, styles and frames from the archive only.
SEEN_CSP = "default-src 'self' data: blob: 'unsafe-inline'; script-src 'none'; base-uri 'none'; sandbox"
KINDS = ("view", "fullPage", "dom")
# Elements that run code or fetch on their own, gone from a page whose scripts already ran.
_DROP = ("script", "noscript", "template")
_DROP_LINK_RELS = frozenset("preconnect dns-prefetch prefetch prerender modulepreload manifest".split())


@dataclass(frozen=True)
class PageViews:
    """The records browser capture made of one page: urn kind -> (timestamp, url) of the record."""

    page_url: str
    found: dict[str, tuple[str, str]]


def rendered_record(session: Session, cap: Capture, kind: str) -> Capture | None:
    """The `urn:<kind>:` record of the page `cap`, from the same snapshot when it has one, else
    the one nearest in time."""
    uri = f"urn:{kind}:{cap.url}"
    q = select(Capture).where(Capture.surt == surt_key(uri), Capture.url == uri, Capture.warc.is_not(None))
    if cap.snapshot_id is not None:
        same = session.scalars(q.where(Capture.snapshot_id == cap.snapshot_id).limit(1)).first()
        if same is not None:
            return same
    rows = session.scalars(q.order_by(Capture.timestamp.desc()).limit(50)).all()
    at = timestamp_to_datetime(cap.timestamp)
    return min(rows, key=lambda c: abs((timestamp_to_datetime(c.timestamp) - at).total_seconds()),
               default=None)


def _has_views(session: Session, url: str) -> bool:
    """Whether browser capture made any record of the page, at any time: one indexed query
    before `page_views`' three to six, which every rewritten replay of a page ran, though most
    pages have none (15% of a replay's CPU: issue 15, target 7)."""
    params = {}
    for kind in KINDS:
        params[f"url_{kind}"] = uri = f"urn:{kind}:{url}"
        params[f"surt_{kind}"] = surt_key(uri)
    return session.execute(_views_query(), params).first() is not None


@functools.cache
def _views_query() -> Select[int]:
    """Any record of the page's browser capture (bound per call: built once)."""
    return select(Capture.id).where(
        Capture.surt.in_([bindparam(f"surt_{k}", type_=String) for k in KINDS]),
        Capture.url.in_([bindparam(f"url_{k}", type_=String) for k in KINDS]),
        Capture.warc.is_not(None),
    ).limit(1)


def page_views(session: Session, cap: Capture) -> PageViews:
    found = {}
    for kind in KINDS:
        rec = rendered_record(session, cap, kind)
        if rec is not None:
            found[kind] = (rec.timestamp, rec.url)
    return PageViews(cap.url, found)


def _strip(body: bytes) -> bytes:
    """The rendered DOM without what would run or fetch by itself (scripts, event handlers,
    refresh, connection hints): what remains only shows."""
    try:
        doc = lxml.html.document_fromstring(body.decode("utf-8", "replace"))
    except (etree.ParserError, ValueError):
        return b""
    for el in list(doc.iter(*_DROP)):
        el.drop_tree()
    for el in list(doc.iter("meta")):
        if (el.get("http-equiv") or "").lower() == "refresh":
            el.drop_tree()
    for el in list(doc.iter("link")):
        if _DROP_LINK_RELS & set((el.get("rel") or "").lower().split()):
            el.drop_tree()
    for el in doc.iter():
        if isinstance(el.tag, str):
            for attr in [a for a in el.attrib if a.lower().startswith("on")]:
                del el.attrib[attr]
    out: bytes = lxml.html.tostring(doc, encoding="utf-8", method="html", doctype="<!DOCTYPE html>")
    return out


def tweet_card(tweet: Tweet) -> str:
    """The tweet, as the banner shows it."""
    esc = html.escape
    date = f" \u00b7 {esc(tweet.date)}" if tweet.date else ""
    return (
        '<blockquote id="citevault-tweet" style="all:initial;display:block;margin:6px 0 0;padding:6px 10px;'
        'border-left:3px solid #1d9bf0;background:#fff;color:#111;font:14px/1.45 system-ui,sans-serif">'
        f'<strong style="font-weight:bold">{esc(tweet.author)}</strong> '
        f'<span style="color:#536471">@{esc(tweet.handle)}{date}</span><br>{esc(tweet.text)}</blockquote>'
    )


def _banner(prefix: str, cap: Capture, views: PageViews, tweet: Tweet | None, seen: bool) -> str:
    esc = html.escape
    link = 'style="color:#0645ad"'
    when = timestamp_to_datetime(cap.timestamp).strftime("%Y-%m-%d %H:%M:%S UTC")
    seen_prefix = prefix[: -len("web/")] + "seen/"  # the screenshots' route, beside /web/
    shots = [
        f'<a {link} href="{esc(seen_prefix)}{views.found[kind][0]}/{kind}/{esc(cap.url)}">'
        f'{"Screenshot" if kind == "view" else "Full-page screenshot"}</a>'
        for kind in ("view", "fullPage") if kind in views.found
    ]
    served = f'<a {link} href="{esc(prefix)}{cap.timestamp}if_/{esc(cap.url)}">HTML as the server sent it</a>'
    what = " as the reader saw it (rendered in Chromium; scripts not run again)" if seen else ""
    tail = " \u00b7 ".join([*shots, served,
                            f'<a {link} href="{esc(prefix)}*/{esc(cap.url)}">Other captures</a>'])
    return (
        '<div id="citevault-banner" style="all:initial;display:block;box-sizing:border-box;width:100%;'
        "padding:6px 12px;background:#fff8dc;border-bottom:1px solid #d8c27a;color:#222;"
        'font:13px/1.5 system-ui,sans-serif"><strong style="font-weight:bold">Archived copy</strong> of '
        f'<a {link} href="{esc(cap.url)}" rel="noreferrer">{esc(cap.url)}</a>{what}, captured {when} '
        f"by citevault. {tail}{tweet_card(tweet) if tweet else ''}</div>"
    )


def seen_html(prefix: str, cap: Capture, dom: bytes, views: PageViews, tweet: Tweet | None,
              *, seen: bool = True) -> bytes:
    """The page `dom` (a rendered DOM, or for a tweet without one the HTML served), scripts
    removed, links rewritten into the archive at the page's time, with the banner."""
    stripped = _strip(dom)
    if not stripped:
        stripped = b"<!DOCTYPE html><html><body></body></html>"
    return Rewriter(prefix, cap.timestamp, cap.url).html(
        stripped, "utf-8", _banner(prefix, cap, views, tweet, seen)
    )


def as_seen(archive: Archive, page: Capture, served: ArchivedPayload, prefix: str) -> Replayed | None:
    """The as-seen replay of the archived HTML page `page` (its record `served`), or None
    when there is nothing to show beyond the ordinary replay: no rendered DOM and not a tweet."""
    mime = (page.mime or "").split(";")[0].strip().lower()
    if mime not in HTML_TYPES or page.status is None or not 200 <= page.status < 300:
        return None
    tweet_page = is_tweet_status(page.url)
    with archive.index.session() as s:
        if not tweet_page and not _has_views(s, page.url):
            return None
        views = page_views(s, page)
        dom_cap = rendered_record(s, page, "dom") if "dom" in views.found else None
    tweet = archived_tweet(archive, page) if tweet_page else None
    dom = None
    if dom_cap is not None:
        try:
            dom = archive.resolve(dom_cap)[1].payload
        except CitevaultError:
            dom = None
    if dom is None and tweet is None:
        return None
    shown = dom if dom is not None else served.decoded
    body = seen_html(prefix, page, shown, views, tweet, seen=dom is not None)
    headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Security-Policy", SEEN_CSP)]
    return Replayed(200, headers, body)
