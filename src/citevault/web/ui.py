"""The web interface: server-rendered pages (Jinja2 templates in web/templates/) to archive a URL,
find the captures of one, and see a source's snapshots, link health and citations. No scripts, and
pages carry a strict Content-Security-Policy.

    GET  /                   archive form, URL search, the sources
    POST /ui/add             the archive form (url-encoded; `token` field when tokens exist)
    GET  /ui/sources/{id}    snapshots, captures with replay links, cited links' health, citations
    GET  /ui/search?url=     captures of one URL, newest first
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import func, select

from citevault.storage.errors import BadInput, CitevaultError, Forbidden, Unauthorized
from citevault.storage.index import get_source, history
from citevault.storage.models import Snapshot, Source

from ..archive import Archive
from ..auth import check_access, list_tokens
from ..citations import render, source_citations
from ..linkrot import report_source
from ..serializers import snapshot_json, source_summary
from ..urlnorm import normalize_url
from .api import SourceRequest, submit_source
from .deps import get_archive, get_base_url, get_root, get_templates

__all__ = ["CSP", "page_headers", "router"]

router = APIRouter(include_in_schema=False)

# Pages load only their own stylesheet; no scripts at all, no framing, forms post only here.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
REFRESH_SECONDS = 3
_FORM_LIMIT = 64 * 1024
_SOURCES_SHOWN = 100  # a page of the list: about 2 ms of queries each
_CAPTURES_SHOWN = 1000
_SNAPSHOTS_SHOWN = 50
_SNAPSHOTS_WITH_CAPTURES = 5
_ACTIVE = ("queued", "running")


def page_headers(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The security headers of every interface page (and its error pages)."""
    return {**_HEADERS, **(extra or {})}


def _tokens_exist(archive: Archive) -> bool:
    return any(tok["revoked_at"] is None for tok in list_tokens(archive.index))


def _page(request: Request, template: str, context: dict[str, Any], *, status: int = 200,
          refresh: bool = False, query: str = "") -> HTMLResponse:
    full = {"root": get_root(request), "refresh": REFRESH_SECONDS if refresh else 0, "query": query,
            **context}
    return get_templates(request).TemplateResponse(request, template, full, status_code=status,
                                                   headers=page_headers())


# -- home --------------------------------------------------------------------------------------------
def _home(request: Request, values: dict[str, str], error: str | None = None,
          status: int = 200, before: int | None = None) -> HTMLResponse:
    archive = get_archive(request)
    q = select(Source).order_by(Source.id.desc()).limit(_SOURCES_SHOWN)
    if before is not None:
        q = q.where(Source.id < before)
    with archive.index.session() as s:
        total = s.scalar(select(func.count()).select_from(Source)) or 0
        rows = [source_summary(s, src) for src in s.scalars(q)]
    return _page(request, "home.html", {
        "error": error, "values": values, "token_required": _tokens_exist(archive), "rows": rows,
        "total": total, "first": before is None, "page_size": _SOURCES_SHOWN,
    }, status=status)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, before: int | None = None) -> HTMLResponse:
    """The archive form and the sources, newest first, a page at a time (`before` a source id)."""
    return _home(request, {}, before=before)


# -- archiving from the form ---------------------------------------------------------------------------
async def _read_form(request: Request) -> dict[str, str]:
    """The url-encoded form body. Starlette's request.form() needs python-multipart for this too;
    a url-encoded body is one stdlib call, so no extra dependency."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise BadInput("send the form as application/x-www-form-urlencoded")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > _FORM_LIMIT:
            raise BadInput("the form is too large")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadInput("unreadable form data") from exc
    values: dict[str, str] = {}
    for key, value in pairs:
        values.setdefault(key, value)
    return values


def _authorize_form(request: Request, token: str) -> None:
    """A browser form cannot send an Authorization header: take the token from the form (or the
    header, for scripts) and check it as the app-wide dependency checks a write."""
    archive = get_archive(request)
    header = f"Bearer {token}" if token else request.headers.get("authorization")
    try:
        check_access(archive.index, header, write=True,
                     reads_closed=request.app.state.settings.read_token_required)
    except Unauthorized as exc:
        if header is None and _tokens_exist(archive):
            raise Unauthorized("archiving needs an API token: enter it in the token field") from exc
        raise


def _source_request(values: dict[str, str]) -> SourceRequest:
    depth = values.get("depth", "").strip() or "1"
    if depth not in ("0", "1"):
        raise BadInput(f"depth must be 0 or 1, not {depth!r}")
    try:
        return SourceRequest(
            url=values.get("url", ""),
            depth=int(depth),
            scope=values.get("scope", "").strip() or "cited",
            every=values.get("every", "").strip() or None,
            note=values.get("note", "").strip() or None,
        )
    except ValidationError as exc:
        raise BadInput(f"bad form: {exc.errors()[0]['msg']}") from exc


def _same_origin(request: Request) -> None:
    """Refuse cross-site form posts (CSRF). Replayed archived pages are served from this origin
    in a sandbox, so their origin is "null": a form or fetch in an archived page must not be able
    to archive or schedule anything, even while no token exists."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise Forbidden("cross-site form posts are refused")
    origin = request.headers.get("origin")
    if origin is not None:
        own = f"{request.url.scheme}://{request.url.netloc}"
        if origin != own:
            raise Forbidden(f"form posted from another origin ({origin}) is refused")


async def add(request: Request) -> Response:
    """Queue a capture through the API's own path (submit_source), then show the source's page."""
    values: dict[str, str] = {}
    try:
        _same_origin(request)
        values = await _read_form(request)
        await run_in_threadpool(_authorize_form, request, values.get("token", "").strip())
        doc = await run_in_threadpool(submit_source, _source_request(values), request)
    except CitevaultError as exc:
        return await run_in_threadpool(_home, request, values, str(exc), exc.status_code)
    return RedirectResponse(f"{get_root(request)}/ui/sources/{doc['source_id']}", status_code=303)


# The app-wide `authorize` dependency would refuse this route before it could read the form's
# token, so it is a plain Starlette route (no FastAPI dependencies) that checks the token itself
# with auth.check_access, exactly as the dependency checks a write.
router.add_route("/ui/add", add, methods=["POST"], include_in_schema=False)


# -- one source ----------------------------------------------------------------------------------------
@router.get("/ui/sources/{source_id}", response_class=HTMLResponse)
def source_page(request: Request, source_id: int) -> HTMLResponse:
    archive = get_archive(request)
    base = get_base_url(request)
    with archive.index.session() as s:
        src = get_source(s, source_id)
        detail = source_summary(s, src)
        snaps = s.scalars(select(Snapshot).where(Snapshot.source_id == source_id)
                          .order_by(Snapshot.id.desc()).limit(_SNAPSHOTS_SHOWN)).all()
        # Captures of the newest few runs only: a source recaptured every few hours for a
        # year has thousands of runs.
        snapshots = [snapshot_json(s, snap, captures=i < _SNAPSHOTS_WITH_CAPTURES)
                     for i, snap in enumerate(snaps)]
    report = report_source(archive, source_id, base)
    cites = source_citations(archive, source_id, base)
    active = next((snap["state"] for snap in snapshots if snap["state"] in _ACTIVE), None)
    formats = [(label, fmt, render(cites, fmt, source_id=source_id))
               for label, fmt in (("Robust Links (HTML)", "robust-html"), ("Markdown", "markdown"),
                                  ("BibTeX", "bibtex"))]
    return _page(request, "source.html", {
        "title": f"Source {source_id}", "d": detail, "active": active, "snapshots": snapshots,
        "citations": report["citations"], "formats": formats,
    }, refresh=active is not None)


# -- search ----------------------------------------------------------------------------------------------
@router.get("/ui/search", response_class=HTMLResponse)
def search(request: Request, url: str = "") -> HTMLResponse:
    context: dict[str, Any] = {"title": "Search", "target": None, "error": None}
    if not url.strip():
        return _page(request, "search.html", context)
    try:
        target = normalize_url(url)
    except BadInput as exc:
        return _page(request, "search.html", {**context, "error": str(exc)}, status=400, query=url)
    archive = get_archive(request)
    with archive.index.session() as s:
        caps = list(reversed(history(s, target)))[:_CAPTURES_SHOWN]
        snap_ids = {c.snapshot_id for c in caps}
        source_of: dict[int | None, int] = {
            sid: src for sid, src in s.execute(
                select(Snapshot.id, Snapshot.source_id).where(Snapshot.id.in_(snap_ids)))
        } if snap_ids else {}
        rows = [{"timestamp": c.timestamp, "url": c.url, "status": c.status, "role": c.role,
                 "mime": c.mime, "warc": c.warc, "record_type": c.record_type, "error": c.error,
                 "source_id": source_of.get(c.snapshot_id)} for c in caps]
    archived = any(r["warc"] for r in rows)
    return _page(request, "search.html", {
        "title": f"Captures of {target}", "target": target, "archived": archived, "rows": rows,
        "token_required": not archived and _tokens_exist(archive),
    }, status=200 if archived else 404, query=target)
