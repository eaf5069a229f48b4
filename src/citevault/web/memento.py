"""HTTP routes for web-archive clients that ask which captures exist: the CDX server (/cdx, as
Wayback and pywb query it) and Memento (RFC 7089) TimeGate and TimeMaps. Thin: the work is in
cdx.py and memento.py."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from citevault.storage.errors import NotFound
from citevault.storage.index import closest_capture

from ..cdx import parse_query, query_rows, render
from ..memento import (
    LINK_FORMAT,
    Memento,
    memento_link_header,
    mementos,
    parse_accept_datetime,
    replay_url,
    timemap_json,
    timemap_link,
)
from ..replay import archived_url
from .deps import ArchiveDep, BaseUrlDep, target_after

__all__ = ["router"]

router = APIRouter(tags=["replay"])


@router.get("/cdx", summary="CDX server API (Wayback and pywb)")
def cdx(request: Request, archive: ArchiveDep) -> Response:
    """Captures matching `url` (matchType exact|prefix|host|domain, or `*` wildcards), with from,
    to, limit (negative: the last N), sort=closest&closest=TS or sort=reverse, output=cdxj (default,
    pywb's format) | json (Wayback: first row field names) | text, fl, filter, collapse."""
    params = {k: request.query_params.getlist(k) for k in request.query_params}
    q = parse_query(params)
    with archive.index.reading() as s:
        rows = query_rows(s, q)
    return Response(render(rows, q), media_type=q.media_type)


@router.get("/timegate/{url:path}", summary="Memento TimeGate")
@router.head("/timegate/{url:path}", include_in_schema=False)
def timegate(request: Request, url: str, archive: ArchiveDep, base: BaseUrlDep) -> Response:
    """302 to the memento closest to the Accept-Datetime header (default: the newest)."""
    target = archived_url(target_after(request, "/timegate/"))
    when = parse_accept_datetime(request.headers.get("accept-datetime"))
    with archive.index.reading() as s:
        cap = closest_capture(s, target, when)
        chosen = Memento(cap.timestamp, cap.url)
        link = memento_link_header(s, base, cap.url, chosen)
    return Response(status_code=302, headers={
        "Location": replay_url(base, chosen.timestamp, chosen.url),
        "Vary": "accept-datetime",
        "Link": link,
    })


@router.get("/timemap/{fmt}/{url:path}", summary="Memento TimeMap")
@router.head("/timemap/{fmt}/{url:path}", include_in_schema=False)
def timemap(request: Request, fmt: str, url: str, archive: ArchiveDep, base: BaseUrlDep) -> Response:
    """Every memento of the URL: `link` (application/link-format) or `json`."""
    if fmt not in ("link", "json"):
        raise NotFound(f"no TimeMap format {fmt!r}: use /timemap/link/ or /timemap/json/")
    target = archived_url(target_after(request, f"/timemap/{fmt}/"))
    with archive.index.reading() as s:
        items = mementos(s, target)
    if fmt == "json":
        return JSONResponse(timemap_json(base, target, items))
    return Response(timemap_link(base, target, items), media_type=LINK_FORMAT)
