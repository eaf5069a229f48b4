"""HTTP route of full-text search: `GET /api/search?q=...` with the filters of `citevault search`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from citevault.storage.search import SearchQuery, search

from ..memento import replay_url
from .deps import ArchiveDep, BaseUrlDep

__all__ = ["router"]

router = APIRouter(tags=["search"])


@router.get("/api/search", summary="Full-text search over archived pages, best match first")
def search_pages(
    archive: ArchiveDep,
    base_url: BaseUrlDep,
    q: Annotated[str, Query(description='Words that must all occur; "quoted phrase" for a phrase.')],
    url: Annotated[str | None, Query(description="A URL prefix, or a host (and its subdomains).")] = None,
    from_: Annotated[str | None, Query(alias="from", description="Captured at or after (YYYY[MM[DD...]]).")]
    = None,
    to: Annotated[str | None, Query(description="Captured at or before (YYYY[MM[DD...]]).")] = None,
    role: Annotated[str | None, Query(description="seed or cited (or requisite, redirect).")] = None,
    limit: Annotated[int, Query(description="Results per page, 1-1000.")] = 20,
    offset: Annotated[int, Query(description="Results skipped (paging).")] = 0,
) -> dict[str, Any]:
    """Ranked results, each with a snippet of its text and the [start, end) spans of the matched
    words in it (`highlights`), and the replay URL of the archived copy."""
    query = SearchQuery(q=q, url=url, since=from_, until=to, role=role, limit=limit, offset=offset)
    with archive.index.session() as s:
        hits = search(s, query)
    return {"query": q, "offset": offset, "results": [
        {**h.as_json(), "replay_url": replay_url(base_url, h.timestamp, h.url)} for h in hits
    ]}
