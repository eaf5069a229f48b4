"""HTTP routes of the read side for web-archive clients: the CDX server (/cdx), Wayback-style
replay (/web/), and Memento TimeGate and TimeMaps (/timegate/, /timemap/). Thin: the work is in
cdx, replay and memento."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select

from citevault.storage.errors import NotFound
from citevault.storage.index import closest_capture, surt_key
from citevault.storage.models import Capture

from .archive import Archive
from .cdx import parse_query, query_rows, render
from .memento import (
    LINK_FORMAT,
    Memento,
    http_date,
    memento_link_header,
    mementos,
    parse_accept_datetime,
    replay_url,
    timemap_json,
    timemap_link,
)
from .replay import (
    CSP,
    archived_url,
    captures_page,
    nearby_urls,
    not_found_page,
    parse_ts_modifier,
    render_memento,
)

__all__ = ["router"]

router = APIRouter(tags=["replay"])


def _archive(request: Request) -> Archive:
    return request.app.state.archive  # type: ignore[no-any-return]


def _base(request: Request) -> str:
    """Absolute base of the service for Memento links: the configured public URL, else the request's."""
    public = request.app.state.settings.public_url
    return str(public or request.base_url).rstrip("/")


def _prefix(request: Request) -> str:
    return str(request.scope.get("root_path", "")) + "/web/"


def _target(request: Request, marker: str) -> str:
    """What follows `marker` in the request path, as sent (percent-escapes intact), with the query
    string: the archived URL, whose own query must survive."""
    raw = request.scope.get("raw_path") or request.scope["path"].encode()
    path = raw.decode("utf-8", "replace")
    i = path.find(marker)
    rest = path[i + len(marker):] if i >= 0 else ""
    query = request.scope.get("query_string", b"").decode("latin-1")
    return f"{rest}?{query}" if query else rest


def _replay_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    # Replayed pages run with an opaque origin (sandbox): fonts and scripts they load from the
    # archive are cross-origin requests. Archived content is readable by anyone anyway.
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@router.get("/cdx", summary="CDX server API (Wayback and pywb)")
def cdx(request: Request) -> Response:
    """Captures matching `url` (matchType exact|prefix|host|domain, or `*` wildcards), with from,
    to, limit (negative: the last N), sort=closest&closest=TS or sort=reverse, output=cdxj (default,
    pywb's format) | json (Wayback: first row field names) | text, fl, filter, collapse."""
    params = {k: request.query_params.getlist(k) for k in request.query_params}
    q = parse_query(params)
    with _archive(request).index.session() as s:
        rows = query_rows(s, q)
    return Response(render(rows, q), media_type=q.media_type)


def _not_found(request: Request, url: str, ts: str | None) -> HTMLResponse:
    with _archive(request).index.session() as s:
        nearby = nearby_urls(s, url)
        failures = s.execute(
            select(Capture.timestamp, Capture.error)
            .where(Capture.surt == surt_key(url), Capture.warc.is_(None), Capture.error.is_not(None))
            .order_by(Capture.timestamp.desc()).limit(10)
        ).all()
    page = not_found_page(_prefix(request), url, ts, nearby, [(t, e) for t, e in failures if e is not None])
    return _replay_headers(HTMLResponse(page, status_code=404))  # type: ignore[return-value]


@router.get("/web/{ts_mod}/{url:path}", summary="Replay an archived URL")
@router.head("/web/{ts_mod}/{url:path}", include_in_schema=False)
def web(request: Request, ts_mod: str, url: str) -> Response:
    """The capture of the URL closest to the timestamp (1-14 digits), rewritten for replay;
    `{timestamp}id_` serves the original payload unchanged. Redirects to the exact timestamp."""
    prefix = _prefix(request)
    if ts_mod == "*":
        target = archived_url(_target(request, "/web/*/"))
        with _archive(request).index.session() as s:
            items = [(m.url, m.timestamp) for m in mementos(s, target)]
        if not items:
            return _not_found(request, target, None)
        return HTMLResponse(captures_page(prefix, target, items))
    if ts_mod.endswith(":"):  # /web/https://example.com/ : no timestamp, the newest capture
        ts, mod, target = "", "", archived_url(_target(request, "/web/"))
    else:
        ts, mod = parse_ts_modifier(ts_mod)
        target = archived_url(_target(request, f"/web/{ts_mod}/"))
    archive = _archive(request)
    try:
        with archive.index.session() as s:
            cap = closest_capture(s, target, ts or None)
            if cap.timestamp != ts:
                return RedirectResponse(f"{prefix}{cap.timestamp}{mod}/{cap.url}", status_code=302)
            link = memento_link_header(s, _base(request), cap.url, Memento(cap.timestamp, cap.url))
        cap, rec = archive.resolve(cap)
    except NotFound:
        return _not_found(request, target, ts or None)
    out = render_memento(cap, rec, modifier=mod, prefix=prefix)
    response = Response(out.body, status_code=out.status)
    for name, value in out.headers:
        response.headers.append(name, value)
    response.headers["Memento-Datetime"] = http_date(cap.timestamp)
    response.headers["Link"] = link
    return _replay_headers(response)


@router.get("/timegate/{url:path}", summary="Memento TimeGate")
@router.head("/timegate/{url:path}", include_in_schema=False)
def timegate(request: Request, url: str) -> Response:
    """302 to the memento closest to the Accept-Datetime header (default: the newest)."""
    target = archived_url(_target(request, "/timegate/"))
    when = parse_accept_datetime(request.headers.get("accept-datetime"))
    base = _base(request)
    with _archive(request).index.session() as s:
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
def timemap(request: Request, fmt: str, url: str) -> Response:
    """Every memento of the URL: `link` (application/link-format) or `json`."""
    if fmt not in ("link", "json"):
        raise NotFound(f"no TimeMap format {fmt!r}: use /timemap/link/ or /timemap/json/")
    target = archived_url(_target(request, f"/timemap/{fmt}/"))
    with _archive(request).index.session() as s:
        items = mementos(s, target)
    base = _base(request)
    if fmt == "json":
        return JSONResponse(timemap_json(base, target, items))
    return Response(timemap_link(base, target, items), media_type=LINK_FORMAT)
