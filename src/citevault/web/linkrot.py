"""HTTP routes for link health: a source's citation report, and a check run now.

    GET  /api/sources/{id}/report   as `citevault report ID --json`
    POST /api/sources/{id}/check    runs the check now (a write: needs a token once one exists)
                                    {"id", "checks": [link check]}
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from ..linkrot import check_source, linkcheck_json, report_source
from .deps import ArchiveDep, BaseUrlDep

__all__ = ["router"]

router = APIRouter(tags=["link health"])


@router.get("/api/sources/{source_id}/report", summary="Health of every citation of a source")
async def source_report(archive: ArchiveDep, base_url: BaseUrlDep, source_id: int) -> dict[str, Any]:
    """Per citation: the latest check's outcome, since when, and the archived copy to cite instead."""
    return await run_in_threadpool(report_source, archive, source_id, base_url)


@router.post("/api/sources/{source_id}/check", summary="Check a source's cited URLs now")
async def source_check(archive: ArchiveDep, source_id: int) -> dict[str, Any]:
    """Re-check every cited URL of a source now, record the results, and return them. Writes need
    a bearer token once any token exists (the app-wide `authorize` dependency)."""
    rows = await run_in_threadpool(check_source, archive, source_id)
    return {"id": source_id, "checks": [linkcheck_json(lc) for lc in rows]}
