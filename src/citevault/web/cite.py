"""HTTP routes for citations and WACZ export of a source."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.background import BackgroundTask

from ..citations import FORMATS, render, source_citations
from ..wacz_export import export_wacz
from .deps import ArchiveDep, BaseUrlDep

__all__ = ["router"]

router = APIRouter(tags=["citations"])

_MEDIA_TYPES = {
    "robust-html": "text/html; charset=utf-8",
    "markdown": "text/markdown; charset=utf-8",
    "text": "text/plain; charset=utf-8",
    "bibtex": "application/x-bibtex; charset=utf-8",
}


@router.get(
    "/api/sources/{source_id}/cite",
    summary="Citations of a source and each source it cites, with their archived copies",
    response_model=None,
)
def cite(
    archive: ArchiveDep,
    base_url: BaseUrlDep,
    source_id: int,
    format: Annotated[
        str, Query(description=f"One of {', '.join(FORMATS)}, or json.")
    ] = "robust-html",
) -> Response:
    citations = source_citations(archive, source_id, base_url)
    if format == "json":
        return JSONResponse({"source_id": source_id, "citations": [c.as_json() for c in citations]})
    text = render(citations, format, source_id=source_id)
    return PlainTextResponse(text, media_type=_MEDIA_TYPES[format])


@router.get(
    "/api/sources/{source_id}/wacz",
    summary="A WACZ package of a source's snapshots (records copied from the WARC files)",
    response_class=FileResponse,
)
async def wacz(archive: ArchiveDep, source_id: int) -> FileResponse:
    tmp = Path(tempfile.mkdtemp(prefix="citevault-wacz-"))
    try:
        result = await run_in_threadpool(export_wacz, archive, source_id, tmp / "export.wacz")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return FileResponse(
        result.path,
        media_type="application/zip",  # WACZ has no registered media type; it is a ZIP
        filename=f"citevault-source-{source_id}.wacz",
        background=BackgroundTask(shutil.rmtree, tmp, ignore_errors=True),
    )
