"""The web interface's start and search pages and its forms: server-rendered from Jinja2 templates,
working without scripts (static/ui.js only adds copy buttons and live progress), under a strict
Content-Security-Policy.

    GET  /                          archive form and the sources, newest first, paged
    POST /ui/add                    the archive form (url-encoded; a session or bearer when tokens exist)
    POST /ui/sources/{id}/retry     capture a source again (after a failure)
    GET  /ui/search?url=            captures of one URL, newest first; words instead of a URL search
                                    the archived pages' text (textsearch.py)
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import func, select

from citevault.storage.errors import MAX_ROW_ID, BadInput, CitevaultError
from citevault.storage.index import history
from citevault.storage.models import Snapshot, Source

from ..auth import tokens_exist
from ..serializers import source_summary
from ..urlnorm import normalize_url
from .api import SourceRequest, submit_source
from .deps import get_archive, get_base_url, get_root, get_workqueue
from .forms import accept_source_form, authorize_form, read_form, same_origin
from .pages import CSP, render_page
from .textsearch import is_text_query, text_search_context
from .titles import source_thumbnails, source_titles

__all__ = ["CSP", "router"]

router = APIRouter(include_in_schema=False)

_SOURCES_SHOWN = 25  # a page of the list: titles come from the archived pages
_CAPTURES_SHOWN = 200
# The form offers the browser choice only once the API accepts it (browser capture, issue 9).
# An empty choice keeps the service's default (CITEVAULT_BROWSER).
_BROWSER_CHOICES = (("", "as configured for this archive"), ("auto", "when the page needs it"),
                    ("always", "always render in a browser"), ("never", "never (HTTP only)"))


def _browser_field() -> bool:
    return "browser" in SourceRequest.model_fields


def _home(request: Request, values: dict[str, str], error: str | None = None,
          status: int = 200, before: int | None = None) -> HTMLResponse:
    archive = get_archive(request)
    q = select(Source).order_by(Source.id.desc()).limit(_SOURCES_SHOWN + 1)
    if before is not None:
        q = q.where(Source.id < before)
    with archive.index.session() as s:
        total = s.scalar(select(func.count()).select_from(Source)) or 0
        rows = [source_summary(s, src) for src in s.scalars(q)]
    more = len(rows) > _SOURCES_SHOWN
    rows = rows[:_SOURCES_SHOWN]
    titles = source_titles(request.app.state, archive, [r["id"] for r in rows])
    thumbs = source_thumbnails(archive, [r["id"] for r in rows])
    for r in rows:
        r["title"] = titles.get(r["id"])
        if (thumb := thumbs.get(r["id"])) is not None:
            r["thumb"] = f"{get_root(request)}/seen/{thumb[0]}/view/{thumb[1]}"
    return render_page(request, "home.html", {
        "title": "Archive", "error": error, "values": values, "rows": rows, "total": total,
        "first": before is None, "more": more,
        "browser_choices": _BROWSER_CHOICES if _browser_field() else (),
        "login_needed": tokens_exist(archive.index),
    }, status=status)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, before: Annotated[int | None, Query(ge=0, le=MAX_ROW_ID)] = None) -> HTMLResponse:
    """The archive form and the sources, newest first, a page at a time (`before` a source id)."""
    return _home(request, {}, before=before)


def _source_request(values: dict[str, str]) -> SourceRequest:
    depth = values.get("depth", "").strip() or "1"
    if depth not in ("0", "1"):
        raise BadInput(f"depth must be 0 or 1, not {depth!r}")
    fields: dict[str, Any] = {
        "url": values.get("url", ""),
        "depth": int(depth),
        "scope": values.get("scope", "").strip() or "cited",
        "every": values.get("every", "").strip() or None,
        "note": values.get("note", "").strip() or None,
    }
    browser = values.get("browser", "").strip()
    if browser and _browser_field():
        if browser not in {c for c, _ in _BROWSER_CHOICES if c}:
            raise BadInput(f"browser must be auto, always or never, not {browser!r}")
        fields["browser"] = browser
    try:
        return SourceRequest(**fields)
    except ValidationError as exc:
        raise BadInput(f"bad form: {exc.errors()[0]['msg']}") from exc


async def add(request: Request) -> Response:
    """Queue a capture through the API's own path (submit_source), then show the source's page."""
    values: dict[str, str] = {}
    try:
        same_origin(request)
        values = await read_form(request)
        await run_in_threadpool(authorize_form, request)
        doc = await run_in_threadpool(submit_source, _source_request(values), request)
    except CitevaultError as exc:
        # The form comes back as it was sent, with the reason, so it can be fixed.
        return await run_in_threadpool(_home, request, values, str(exc), exc.status_code)
    return RedirectResponse(f"{get_root(request)}/ui/sources/{doc['source_id']}", status_code=303)


def _requeue(request: Request, source_id: int) -> int:
    queued = get_archive(request).requeue(source_id, trigger="retry")
    get_workqueue(request).notify([queued.snapshot_id])
    return queued.source_id


async def retry(request: Request) -> Response:
    """Capture a source again now (a new snapshot), e.g. after a failed or partial run."""
    source_id = await accept_source_form(request)
    await run_in_threadpool(_requeue, request, source_id)
    return RedirectResponse(f"{get_root(request)}/ui/sources/{source_id}", status_code=303)


# The app-wide `authorize` dependency accepts only bearer headers for writes, so the form routes
# are plain Starlette routes that check the session (and the origin) themselves: forms.py.
router.add_route("/ui/add", add, methods=["POST"], include_in_schema=False)
router.add_route("/ui/sources/{source_id:int}/retry", retry, methods=["POST"], include_in_schema=False)


@router.get("/ui/search", response_class=HTMLResponse)
def search(request: Request, url: str = "") -> HTMLResponse:
    context: dict[str, Any] = {"title": "Search", "target": None, "error": None}
    if is_text_query(url):
        found, status = text_search_context(get_archive(request), url, get_base_url(request))
        return render_page(request, "textsearch.html", found, status=status, query=url)
    if not url.strip():
        return render_page(request, "search.html", context)
    try:
        target = normalize_url(url)
    except BadInput as exc:
        return render_page(request, "search.html", {**context, "error": str(exc)}, status=400, query=url)
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
    return render_page(request, "search.html", {
        "title": f"Captures of {target}", "target": target, "archived": archived, "rows": rows,
        "error": None, "browser_choices": (), "values": {"url": target},
    }, status=200 if archived else 404, query=target)
