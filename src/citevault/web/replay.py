"""HTTP routes of Wayback-style replay: /web/{timestamp}/{url} rewritten, {timestamp}id_ raw, with
Memento headers, and /web/*/{url} listing the captures. Thin: the work is in replay.py."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.orm import Session

from citevault.storage.errors import NotFound
from citevault.storage.index import closest_capture, parse_timestamp, surt_key
from citevault.storage.models import Capture, Snapshot, Source

from ..archive import Archive
from ..asseen import SEEN_CSP, as_seen
from ..closest import close_captures
from ..fuzzy import fuzzy_capture
from ..memento import Memento, http_date, memento_link_header, mementos
from ..replay import CSP, GUARDED_CSP, archived_url, parse_ts_modifier, render_memento
from ..replaypages import captures_page
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
    response.headers["X-DNS-Prefetch-Control"] = "off"  # no lookups of the hosts a page names
    return response


def _dest(request: Request) -> str:
    """What the browser loads this as (Sec-Fetch-Dest); empty for clients that are not browsers."""
    return request.headers.get("sec-fetch-dest", "").lower()


_FRAMES = ("iframe", "frame", "embed", "object")


def _in_frame(request: Request, modifier: str) -> bool:
    return modifier in ("if_", "fw_") or _dest(request) in _FRAMES


# What an archived page's frame shows for a URL the archive lacks (an ad slot, a widget).
_FRAME_PLACEHOLDER = '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Not archived</title></head>' \
    '<body style="margin:0;background:#f4f4f4"></body></html>'


def _referring_sources(s: Session, request: Request) -> list[Source]:
    """The sources whose archived page asked for this URL (from the Referer's replay path)."""
    path = request.headers.get("referer", "").partition("/web/")[2]
    ts_mod, _, url = path.partition("/")
    ts = ts_mod.rstrip("_").rstrip("abcdefghijklmnopqrstuvwxyz")
    try:
        ref = closest_capture(s, archived_url(url), parse_timestamp(ts)) if url and ts else None
    except Exception:  # a Referer is only a hint: any unreadable one names no source
        return []
    if ref is None or ref.snapshot_id is None:
        return []
    return list(s.scalars(select(Source).join(Snapshot, Snapshot.source_id == Source.id)
                          .where(Snapshot.id == ref.snapshot_id)))


def _not_found(
    request: Request, archive: Archive, url: str, ts: str | None, modifier: str = ""
) -> Response:
    """Inside an archived page's frame a small blank placeholder; else the page saying so, with the
    source that asked for it, failed attempts, and the captures that really are close."""
    if _in_frame(request, modifier):
        return _replay_headers(HTMLResponse(_FRAME_PLACEHOLDER, status_code=404))
    with archive.index.reading() as s:
        close = close_captures(s, url, parse_timestamp(ts) if ts else None)
        failures = s.execute(
            select(Capture.timestamp, Capture.error)
            .where(Capture.surt == surt_key(url), Capture.warc.is_(None), Capture.error.is_not(None))
            .order_by(Capture.timestamp.desc()).limit(10)
        ).all()
        sources = [{"id": src.id, "url": src.url} for src in _referring_sources(s, request)]
    templates: Jinja2Templates = request.app.state.templates
    page = templates.TemplateResponse(request, "not_archived.html", {
        "root": get_root(request), "title": "Not in the archive", "url": url,
        "ts": parse_timestamp(ts) if ts else None, "close": close, "sources": sources,
        "failures": [(t, e) for t, e in failures if e is not None],
    }, status_code=404)
    return _replay_headers(page)


@router.get("/web/{ts_mod}/{url:path}", summary="Replay an archived URL")
@router.head("/web/{ts_mod}/{url:path}", include_in_schema=False)
def web(request: Request, ts_mod: str, url: str, archive: ArchiveDep, base: BaseUrlDep) -> Response:
    """The capture of the URL closest to the timestamp (1-14 digits), rewritten for replay;
    `{timestamp}id_` serves the original payload unchanged. Redirects to the exact timestamp."""
    prefix = _prefix(request)
    if ts_mod == "*":
        target = archived_url(target_after(request, "/web/*/"))
        with archive.index.reading() as s:
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
        with archive.index.reading() as s:
            cap = closest_capture(s, target, ts or None)
            if cap.timestamp != ts:
                # CORS on the redirect too: a sandboxed page's font or fetch follows it.
                moved = RedirectResponse(f"{prefix}{cap.timestamp}{mod}/{cap.url}", status_code=302)
                return _replay_headers(moved)
            link = memento_link_header(s, base, cap.url, Memento(cap.timestamp, cap.url))
        cap, rec = archive.resolve(cap)
    except NotFound:
        with archive.index.reading() as s:  # a script's cache-buster differs: pywb's fuzzy match
            near = fuzzy_capture(s, target, ts or None)
        if near is not None:
            return RedirectResponse(f"{prefix}{near.timestamp}{mod}/{near.url}", status_code=302)
        return _not_found(request, archive, target, ts or None, mod)
    navigation = _dest(request) in ("document", *_FRAMES)  # a page or frame, not a fetch
    # A page captured in a browser (or a tweet) replays as the reader saw it.
    seen = as_seen(archive, cap, rec, prefix) if not mod else None
    guard = get_root(request) + "/ui/static/replay-guard.js"
    out = seen or render_memento(cap, rec, modifier=mod, prefix=prefix, navigation=navigation,
                                 guard=guard)
    response = Response(out.body, status_code=out.status)
    for name, value in out.headers:
        response.headers.append(name, value)
    response.headers["Memento-Datetime"] = http_date(cap.timestamp)
    response.headers["Link"] = link
    _replay_headers(response)
    if seen is not None:
        response.headers["Content-Security-Policy"] = SEEN_CSP
    elif out.guarded:
        response.headers["Content-Security-Policy"] = GUARDED_CSP
    return response
