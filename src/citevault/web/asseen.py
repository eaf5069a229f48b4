"""HTTP route of what browser capture made of a page, one click from its replay:
/seen/{timestamp}/{view|fullPage|dom}/{url} serves the screenshot (or the rendered DOM as
archived, as text) nearest to the timestamp. The as-seen page itself is served at /web/."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from citevault.storage.errors import BadInput, NotFound
from citevault.storage.index import closest_capture

from ..asseen import KINDS, SEEN_CSP, rendered_record
from ..replay import archived_url, parse_ts_modifier
from .deps import ArchiveDep, target_after

__all__ = ["router"]

router = APIRouter(tags=["replay"])


@router.get("/seen/{ts}/{kind}/{url:path}", summary="A page's screenshot or rendered DOM")
def seen(request: Request, ts: str, kind: str, url: str, archive: ArchiveDep) -> Response:
    """The `urn:<kind>:` record browser capture made of the page at `url` nearest to `ts`."""
    stamp, mod = parse_ts_modifier(ts)
    if mod or not stamp:
        raise BadInput(f"bad timestamp {ts!r}: want 1 to 14 digits (YYYYMMDDhhmmss)")
    if kind not in KINDS:
        raise BadInput(f"unknown view {kind!r}: want one of {', '.join(KINDS)}")
    target = archived_url(target_after(request, f"/seen/{ts}/{kind}/"))
    with archive.index.session() as s:
        page = closest_capture(s, target, stamp)
        rec = rendered_record(s, page, kind)  # that snapshot's, else the nearest in time
    if rec is None:
        raise NotFound(f"no {kind} of {target} in the archive (not captured in a browser)")
    _, payload = archive.resolve(rec)
    ctype = "text/plain; charset=utf-8" if kind == "dom" else (rec.mime or "image/png")
    return Response(payload.payload, media_type=ctype, headers={
        "Content-Security-Policy": SEEN_CSP, "X-Content-Type-Options": "nosniff",
        "Access-Control-Allow-Origin": "*",
    })
