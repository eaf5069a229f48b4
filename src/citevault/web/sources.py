"""The pages of one source: its timeline of snapshots with grouped captures, live progress while a
capture runs, cited links with their health, the link-health report and the citations.

    GET /ui/sources/{id}            title, timeline, captures of one snapshot (paged), cited links,
                                    "cite this" (?snapshot=ID&page=N&links=N)
    GET /ui/sources/{id}/report     link-health report as a page (JSON: /api/sources/{id}/report)
    GET /ui/sources/{id}/cite       every citation format, with copy buttons
    POST /ui/sources/{id}/check     queue a check of the cited links (as the API does), then show
                                    the source page, which follows the check (?check=JOB)
    GET /ui/snapshots/{id}/progress a running snapshot's counts, for the page's polling script
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException

from citevault.storage.index import get_snapshot, get_source
from citevault.storage.models import Capture, Snapshot

from ..citations import Citation, render, source_citations
from ..linkrot import report_source
from ..linkrot.jobs import Busy
from ..serializers import snapshot_json, source_summary
from .deps import RowId, get_archive, get_base_url, get_root
from .forms import accept_source_form
from .linkrot import check_queue
from .pages import render_page
from .titles import source_thumbnails

__all__ = ["CITE_FORMATS", "router"]

router = APIRouter(include_in_schema=False)

CITE_FORMATS = (("Robust Links (HTML)", "robust-html"), ("Markdown", "markdown"), ("Plain text", "text"),
                ("BibTeX", "bibtex"), ("Wikipedia {{cite web}}", "wikipedia"))
_ACTIVE = ("queued", "running")
_SNAPSHOTS_SHOWN = 20
_CAPTURES_SHOWN = 50  # per group and page
_LINKS_SHOWN = 50
_PAGE_ROLES = ("seed", "cited", "redirect")


def _page_number(value: int | None) -> int:
    return max(1, value or 1)


def _captures(s: Session, snapshot_id: int, roles: tuple[str, ...] | None, page: int,
              ) -> tuple[list[dict[str, Any]], int]:
    """One page of a snapshot's captures: seed first, then in capture order."""
    q = select(Capture).where(Capture.snapshot_id == snapshot_id)
    q = q.where(Capture.role.in_(roles)) if roles else q.where(Capture.role.not_in(_PAGE_ROLES))
    total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = s.scalars(q.order_by((Capture.role != "seed"), Capture.id)
                     .offset((page - 1) * _CAPTURES_SHOWN).limit(_CAPTURES_SHOWN)).all()
    return [{"timestamp": c.timestamp, "url": c.url, "status": c.status, "role": c.role, "mime": c.mime,
             "warc": c.warc, "record_type": c.record_type, "error": c.error} for c in rows], total


def _usable_seed(cites: list[Citation]) -> bool:
    """Whether the article itself has an archived copy that shows it (so citing it makes sense)."""
    return bool(cites) and cites[0].copy is not None and cites[0].reason is None


@router.get("/ui/sources/{source_id}", response_class=HTMLResponse)
def source_page(request: Request, source_id: RowId, snapshot: int | None = None, page: int | None = None,
                links: int | None = None, check: int | None = None) -> HTMLResponse:
    archive = get_archive(request)
    base = get_base_url(request)
    page, links = _page_number(page), _page_number(links)
    with archive.index.session() as s:
        detail = source_summary(s, get_source(s, source_id))
        snaps = [snapshot_json(s, snap, captures=False) for snap in s.scalars(
            select(Snapshot).where(Snapshot.source_id == source_id)
            .order_by(Snapshot.id.desc()).limit(_SNAPSHOTS_SHOWN))]
        chosen = next((x for x in snaps if x["id"] == snapshot), None) if snapshot else None
        if chosen is None and snapshot:
            chosen = snapshot_json(s, get_snapshot(s, snapshot), captures=False)
            if chosen["source_id"] != source_id:
                chosen = None
        chosen = chosen or (snaps[0] if snaps else None)
        pages: list[dict[str, Any]] = []
        reqs: list[dict[str, Any]] = []
        pages_total = reqs_total = 0
        if chosen is not None:
            pages, pages_total = _captures(s, chosen["id"], _PAGE_ROLES, page)
            reqs, reqs_total = _captures(s, chosen["id"], None, page)
        latest = snaps[0] if snaps else None
    report = report_source(archive, source_id, base)
    cites = source_citations(archive, source_id, base)
    cited = report["citations"]
    active = latest if latest and latest["state"] in _ACTIVE else None
    job = check_queue(request).get(check) if check is not None else None
    checking = job.as_json() if job is not None and job.source_id == source_id else None
    usable = _usable_seed(cites)
    thumb = source_thumbnails(archive, [source_id]).get(source_id)
    shot = f"{get_root(request)}/seen/{thumb[0]}/{{kind}}/{thumb[1]}" if thumb is not None else None
    return render_page(request, "source.html", {
        "shot": shot,
        "title": cites[0].title if cites else detail["url"], "d": detail, "snapshots": snaps,
        "chosen": chosen, "latest": latest, "active": active, "pages": pages, "pages_total": pages_total,
        "reqs": reqs, "reqs_total": reqs_total, "page": page, "per_page": _CAPTURES_SHOWN,
        "cited": cited[(links - 1) * _LINKS_SHOWN:links * _LINKS_SHOWN], "cited_total": len(cited),
        "links": links, "links_per_page": _LINKS_SHOWN, "usable": usable, "check": checking,
        "failure": cites[0].reason if cites and not usable and not active else None,
        "seed_copy": cites[0].copy if usable else None,
        "formats": [(label, fmt, render(cites, fmt, source_id=source_id)) for label, fmt in CITE_FORMATS]
        if usable else [],
    }, refresh=active is not None or (checking is not None and checking["state"] in _ACTIVE))


@router.get("/ui/snapshots/{snapshot_id}/progress")
def progress(request: Request, snapshot_id: RowId) -> dict[str, Any]:
    """Counts of one snapshot and the URL captured last, polled by static/ui.js while it runs."""
    with get_archive(request).index.session() as s:
        snap = get_snapshot(s, snapshot_id)
        last = s.scalars(select(Capture).where(Capture.snapshot_id == snapshot_id)
                         .order_by(Capture.id.desc()).limit(1)).first()
        return {"id": snap.id, "state": snap.state, "done": snap.urls_done or 0,
                "failed": snap.urls_failed or 0, "bytes": snap.bytes_written or 0,
                "latest": last.url if last else None,
                "finished": snap.state not in _ACTIVE}


@router.get("/ui/sources/{source_id}/report", response_class=HTMLResponse)
def report_page(request: Request, source_id: RowId) -> HTMLResponse:
    archive = get_archive(request)
    with archive.index.session() as s:
        detail = source_summary(s, get_source(s, source_id))
    report = report_source(archive, source_id, get_base_url(request))
    return render_page(request, "report.html", {
        "title": f"Link health of source {source_id}", "d": detail, "cited": report["citations"],
    })


@router.get("/ui/sources/{source_id}/cite", response_class=HTMLResponse)
def cite_page(request: Request, source_id: RowId) -> HTMLResponse:
    archive = get_archive(request)
    with archive.index.session() as s:
        detail = source_summary(s, get_source(s, source_id))
    cites = source_citations(archive, source_id, get_base_url(request))
    usable = _usable_seed(cites)
    return render_page(request, "cite.html", {
        "title": f"Cite source {source_id}", "d": detail, "citations": cites, "usable": usable,
        "formats": [(label, fmt, render(cites, fmt, source_id=source_id)) for label, fmt in CITE_FORMATS],
    })


def _known(request: Request, source_id: int) -> None:
    with get_archive(request).index.session() as s:
        get_source(s, source_id)  # NotFound: 404


async def check_now(request: Request) -> Response:
    """Queue a check of every cited link of a source on the app's bounded queue of checks (the
    one POST /api/sources/{id}/check uses: a check never runs in the threads that answer
    requests), then show the source page following that check."""
    source_id = await accept_source_form(request)
    await run_in_threadpool(_known, request, source_id)
    try:
        job = check_queue(request).submit(source_id)
    except Busy as exc:
        raise HTTPException(503, f"The links were not checked: {exc}. Try again in a minute.",
                            headers={"Retry-After": "30"}) from None
    page = f"{get_root(request)}/ui/sources/{source_id}?check={job.id}#check"
    return RedirectResponse(page, status_code=303)


# A write from a form: a plain route that checks the session and the origin itself (forms.py).
router.add_route("/ui/sources/{source_id:int}/check", check_now, methods=["POST"], include_in_schema=False)
