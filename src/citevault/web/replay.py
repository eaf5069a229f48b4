"""HTTP routes of Wayback-style replay: /web/{timestamp}/{url} rewritten, {timestamp}id_ raw, with
Memento headers, and /web/*/{url} listing the captures. Thin: the work is in replay.py."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from citevault.storage.errors import NotFound
from citevault.storage.index import closest_capture, surt_key
from citevault.storage.models import Capture

from ..archive import Archive
from ..asseen import SEEN_CSP, as_seen
from ..fuzzy import fuzzy_capture
from ..memento import Memento, http_date, memento_link_header, mementos
from ..replay import (
    CSP,
    archived_url,
    captures_page,
    nearby_urls,
    not_found_page,
    parse_ts_modifier,
    render_memento,
)
from .deps import ArchiveDep, BaseUrlDep, get_root, target_after

__all__ = ["router"]

router = APIRouter(tags=["replay"])


def _prefix(request: Request) -> str:
    return get_root(request) + "/web/"


def _replay_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    # Replayed pages run with an opaque origin (sandbox): fonts and scripts they load from the
    # archive are cross-origin requests. Archived content is readable by anyone anyway.
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _not_found(request: Request, archive: Archive, url: str, ts: str | None) -> HTMLResponse:
    with archive.index.session() as s:
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
def web(request: Request, ts_mod: str, url: str, archive: ArchiveDep, base: BaseUrlDep) -> Response:
    """The capture of the URL closest to the timestamp (1-14 digits), rewritten for replay;
    `{timestamp}id_` serves the original payload unchanged. Redirects to the exact timestamp."""
    prefix = _prefix(request)
    if ts_mod == "*":
        target = archived_url(target_after(request, "/web/*/"))
        with archive.index.session() as s:
            items = [(m.url, m.timestamp) for m in mementos(s, target)]
        if not items:
            return _not_found(request, archive, target, None)
        return HTMLResponse(captures_page(prefix, target, items))
    if ts_mod.endswith(":"):  # /web/https://example.com/ : no timestamp, the newest capture
        ts, mod, target = "", "", archived_url(target_after(request, "/web/"))
    else:
        ts, mod = parse_ts_modifier(ts_mod)
        target = archived_url(target_after(request, f"/web/{ts_mod}/"))
    try:
        with archive.index.session() as s:
            cap = closest_capture(s, target, ts or None)
            if cap.timestamp != ts:
                return RedirectResponse(f"{prefix}{cap.timestamp}{mod}/{cap.url}", status_code=302)
            link = memento_link_header(s, base, cap.url, Memento(cap.timestamp, cap.url))
        cap, rec = archive.resolve(cap)
    except NotFound:
        with archive.index.session() as s:  # a script's cache-buster differs: pywb's fuzzy match
            near = fuzzy_capture(s, target, ts or None)
        if near is not None:
            return RedirectResponse(f"{prefix}{near.timestamp}{mod}/{near.url}", status_code=302)
        return _not_found(request, archive, target, ts or None)
    # A page captured in a browser (or a tweet) replays as the reader saw it.
    seen = as_seen(archive, cap, rec, prefix) if not mod else None
    out = seen or render_memento(cap, rec, modifier=mod, prefix=prefix)
    response = Response(out.body, status_code=out.status)
    for name, value in out.headers:
        response.headers.append(name, value)
    response.headers["Memento-Datetime"] = http_date(cap.timestamp)
    response.headers["Link"] = link
    _replay_headers(response)
    if seen is not None:
        response.headers["Content-Security-Policy"] = SEEN_CSP
    return response
