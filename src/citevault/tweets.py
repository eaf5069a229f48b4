"""A tweet's author, handle, date and text, read from its archived oEmbed JSON, so a citation of a
tweet reads "Baghdad Desk (@BaghdadDesk): BREAKING: ..." rather than the status page's "X"."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import lxml.html
from lxml import etree

from citevault.crawler.links import is_tweet_status, oembed_url
from citevault.storage.errors import CitevaultError
from citevault.storage.index import closest_capture

if TYPE_CHECKING:
    from citevault.archive import Archive
    from citevault.storage.models import Capture

__all__ = ["Tweet", "archived_tweet", "tweet_from_oembed"]

_TITLE_TEXT = 200  # characters of the tweet's text in a title


@dataclass(frozen=True)
class Tweet:
    """What a citation says about a tweet."""

    author: str
    handle: str
    date: str | None
    text: str

    @property
    def title(self) -> str:
        text = self.text if len(self.text) <= _TITLE_TEXT else self.text[: _TITLE_TEXT - 1] + "\u2026"
        return f"{self.author} (@{self.handle}): {text}"


def tweet_from_oembed(data: bytes) -> Tweet | None:
    """The tweet an oEmbed answer describes (publish.twitter.com's JSON), or None."""
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("html"), str):
        return None
    author = " ".join(str(doc.get("author_name") or "").split())
    handle = urlsplit(str(doc.get("author_url") or "")).path.strip("/").split("/")[0]
    try:
        quote = lxml.html.fragment_fromstring(doc["html"], create_parent="div")
    except (etree.ParserError, ValueError):
        return None
    para = quote.find(".//blockquote/p")
    text = " ".join(para.text_content().split()) if para is not None else ""
    links = quote.findall(".//blockquote/a")
    date = " ".join(links[-1].text_content().split()) if links else None
    if not author or not handle or not text:
        return None
    return Tweet(author=author, handle=handle, date=date or None, text=text)


def archived_tweet(archive: Archive, cap: Capture) -> Tweet | None:
    """The tweet of an archived status page, from the oEmbed JSON archived nearest to it."""
    oembed = oembed_url(cap.url) if is_tweet_status(cap.url) else None
    if oembed is None:
        return None
    try:
        with archive.index.session() as s:
            found = closest_capture(s, oembed, cap.timestamp)
        if found.status != 200:
            return None
        _, rec = archive.resolve(found)
        return tweet_from_oembed(rec.decoded)
    except CitevaultError:
        return None
