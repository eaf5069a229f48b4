"""The JSON API: queue captures, read sources, snapshots and captures, schedules, Prometheus metrics.

Shapes (the same views as the CLI's --json):
    POST /api/sources {"url", "depth"?, "scope"?, "every"?, "cron"?, "note"?, "if_not_archived_within"?}
        202 {"source_id", "snapshot_id", "url", "state": "queued", "schedule", "jobs"}
            (Location: /api/snapshots/{snapshot_id})
        200 {"skipped": true, "url", "reason", "capture"}   archived within the given duration
    GET /api/sources               {"sources": [source summary]}       as `list --json`
    GET /api/sources/{id}          source detail                       as `show --json`
    GET /api/snapshots/{id}        snapshot with its captures
    GET /api/captures?url=         {"url", "captures": [cdx row]}      as `history --json`
    GET /api/schedules             {"schedules": [job]}                as `schedule list --json`
    GET /metrics                   Prometheus text format
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from citevault.storage.errors import BadInput
from citevault.storage.index import get_snapshot, get_source, history
from citevault.storage.models import Source

from ..metrics import CONTENT_TYPE_LATEST
from ..scheduler import open_schedules
from ..serializers import cdx_row, snapshot_json, source_detail, source_summary
from ..urlnorm import normalize_url
from .deps import ArchiveDep
from .deps import get_archive as _archive
from .deps import get_workqueue as _workqueue

__all__ = ["SourceRequest", "router", "submit_source"]

router = APIRouter()


class SourceRequest(BaseModel):
    """A source to capture now (and on a schedule)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="The URL to archive (http or https).")
    depth: int = Field(default=1, description="0: the page and its requisites; 1: also what it cites.")
    scope: str = Field(default="cited", description="cited: main-content links; all: every outlink.")
    every: str | None = Field(default=None, description="Recapture interval, e.g. 6h, 30m, 1d, 90s.")
    cron: str | None = Field(default=None, description="Recapture cron expression (5 fields, UTC).")
    note: str | None = Field(default=None, description="A note kept with the source.")
    if_not_archived_within: str | None = Field(
        default=None, description="Skip the URL if it was captured more recently than this (e.g. 24h)."
    )


def submit_source(body: SourceRequest, request: Request) -> dict[str, Any]:
    """Queue a capture of `body.url` (or skip it, when archived within the given duration):
    the one path both POST /api/sources and the web interface's form take."""
    archive = _archive(request)
    done = archive.submit(
        [body.url], depth=body.depth, scope=body.scope, note=body.note, every=body.every,
        cron=body.cron, if_not_archived_within=body.if_not_archived_within, trigger="api",
        scheduler=request.app.state.scheduler, notify=_workqueue(request),
    )
    if done.skipped:
        [skip] = done.skipped
        return {"skipped": True, "url": skip.url,
                "reason": f"archived at {skip.capture.timestamp}, within {body.if_not_archived_within}",
                "capture": cdx_row(skip.capture)}
    [queued] = done.queued
    with archive.index.session() as s:
        schedule = s.scalar(select(Source.schedule).where(Source.id == queued.source_id))
    return {"source_id": queued.source_id, "snapshot_id": queued.snapshot_id, "url": queued.url,
            "state": "queued", "schedule": schedule, "jobs": done.jobs.get(queued.source_id, [])}


@router.post("/api/sources", status_code=202, tags=["api"], responses={200: {"description": "Skipped"}})
def add_source(body: SourceRequest, request: Request) -> JSONResponse:
    """Queue a capture of a URL; it runs in the background. Watch it at /api/snapshots/{id}."""
    doc = submit_source(body, request)
    if doc.get("skipped"):
        return JSONResponse(doc)
    return JSONResponse(doc, status_code=202,
                        headers={"Location": f"/api/snapshots/{doc['snapshot_id']}"})


@router.get("/api/sources", tags=["api"])
def list_sources(archive: ArchiveDep) -> dict[str, Any]:
    """Every source with its last capture time, counts and link health."""
    with archive.index.session() as s:
        return {"sources": [source_summary(s, src) for src in s.scalars(select(Source).order_by(Source.id))]}


@router.get("/api/sources/{source_id}", tags=["api"])
def show_source(source_id: int, archive: ArchiveDep) -> dict[str, Any]:
    """One source: its snapshots, captures and cited links with their health."""
    with archive.index.session() as s:
        return source_detail(s, get_source(s, source_id))


@router.get("/api/snapshots/{snapshot_id}", tags=["api"])
def show_snapshot(snapshot_id: int, archive: ArchiveDep) -> dict[str, Any]:
    """One capture run: state (queued, running, done, partial, failed), counts, captures."""
    with archive.index.session() as s:
        return snapshot_json(s, get_snapshot(s, snapshot_id))


@router.get("/api/captures", tags=["api"])
def list_captures(archive: ArchiveDep, url: str | None = None) -> dict[str, Any]:
    """Every capture of one URL, oldest first (CDX-like fields)."""
    if not url:
        raise BadInput("give the URL: /api/captures?url=...")
    with archive.index.session() as s:
        return {"url": url, "captures": [cdx_row(c) for c in history(s, normalize_url(url))]}


@router.get("/api/schedules", tags=["api"])
def list_schedules(request: Request, archive: ArchiveDep) -> dict[str, Any]:
    """Recapture and link-check schedules, with their next run (null when paused)."""
    with open_schedules(archive, request.app.state.scheduler) as sched:
        return {"schedules": sched.jobs()}


@router.get("/metrics", tags=["service"])
def metrics(request: Request) -> Response:
    """Prometheus metrics: records, bytes, failures, queue depth, capture job outcomes and durations."""
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
