"""HTTP routes for link health: a source's citation report, and checks queued to run now.

    GET  /api/sources/{id}/report   as `citevault report ID --json`
    POST /api/sources/{id}/check    queues a check of every cited URL (a write: needs a token once
                                    one exists); 202 {"job", "id", "state", ...}; 503 when the
                                    queue is full
    GET  /api/checks/{job}          the job: state queued|running|done|failed, and its checks
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from ..archive import Archive
from ..linkrot import check_source, linkcheck_json, report_source
from ..linkrot.jobs import Busy, CheckQueue
from ..storage.errors import NotFound
from ..storage.models import Source
from .deps import ArchiveDep, BaseUrlDep, RowId

__all__ = ["check_queue", "router"]

router = APIRouter(tags=["link health"])


@router.get("/api/sources/{source_id}/report", summary="Health of every citation of a source")
async def source_report(archive: ArchiveDep, base_url: BaseUrlDep, source_id: RowId) -> dict[str, Any]:
    """Per citation: the latest check's outcome, since when, and the archived copy to cite instead."""
    return await run_in_threadpool(report_source, archive, source_id, base_url)


def check_queue(request: Request) -> CheckQueue:
    """The app's queue of link checks, made on first use."""
    state = request.app.state
    with state.checks_lock:
        if state.checks is None:
            archive: Archive = state.archive
            settings = archive.settings

            def run(source_id: int) -> list[dict[str, Any]]:
                return [linkcheck_json(lc) for lc in check_source(archive, source_id)]

            state.checks = CheckQueue(run, workers=settings.check_workers, capacity=settings.check_queue)
        checks: CheckQueue = state.checks
    return checks


def _known(archive: Archive, source_id: int) -> None:
    with archive.index.session() as s:
        if s.get(Source, source_id) is None:
            raise NotFound(f"no source with id {source_id}")


@router.post("/api/sources/{source_id}/check", status_code=202,
             summary="Queue a check of a source's cited URLs")
async def source_check(request: Request, archive: ArchiveDep, source_id: RowId) -> dict[str, Any]:
    """Queue a re-check of every cited URL of a source; its results are recorded (see the report)
    and kept on the job. Writes need a bearer token once any token exists (the app-wide
    `authorize` dependency)."""
    await run_in_threadpool(_known, archive, source_id)
    try:
        job = check_queue(request).submit(source_id)
    except Busy as exc:
        raise HTTPException(503, f"{exc}; try again later", headers={"Retry-After": "30"}) from None
    return {**job.as_json(), "status_url": f"/api/checks/{job.id}"}


@router.get("/api/checks/{job_id}", summary="A queued link check and its results")
async def check_job(request: Request, job_id: int) -> dict[str, Any]:
    job = check_queue(request).get(job_id)
    if job is None:
        raise NotFound(f"no link check job {job_id}")
    return job.as_json()
