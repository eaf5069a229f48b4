"""The web interface's full-text search: the search box's words (not a URL) find archived pages by
their text, titles and URLs; results with highlighted snippets and links to the replay."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

from citevault.storage.errors import BadInput
from citevault.storage.search import SearchHit, SearchQuery, search

from ..archive import Archive
from ..memento import replay_url

__all__ = ["is_text_query", "text_search_context"]

_SHOWN = 50


def is_text_query(value: str) -> bool:
    """Words, not a URL: several words, or one bare word without a dot, colon or slash."""
    text = value.strip()
    return bool(text) and (any(c.isspace() for c in text) or not any(c in text for c in ".:/"))


def _snippet_html(hit: SearchHit) -> Markup:
    """The snippet escaped, with the matched words in <mark>."""
    out, last = [], 0
    for start, end in hit.highlights:
        out += [escape(hit.snippet[last:start]), Markup("<mark>"), escape(hit.snippet[start:end]),
                Markup("</mark>")]
        last = end
    out.append(escape(hit.snippet[last:]))
    return Markup("").join(out)


def text_search_context(archive: Archive, q: str, base_url: str) -> tuple[dict[str, Any], int]:
    """The template context of the results page, and its HTTP status (400 for bad input)."""
    context: dict[str, Any] = {"title": f"Search: {q.strip()}", "q": q.strip(), "error": None, "hits": []}
    try:
        with archive.index.session() as s:
            hits = search(s, SearchQuery(q=q, limit=_SHOWN))
    except BadInput as exc:
        return {**context, "error": str(exc)}, 400
    context["hits"] = [{
        "title": h.title or h.url, "url": h.url, "timestamp": h.timestamp, "role": h.role,
        "status": h.status, "snippet": _snippet_html(h),
        "replay": replay_url(base_url, h.timestamp, h.url),
        "date": f"{h.timestamp[:4]}-{h.timestamp[4:6]}-{h.timestamp[6:8]}",
    } for h in hits]
    return context, 200
