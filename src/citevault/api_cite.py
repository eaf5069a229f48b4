"""HTTP routes for citations and WACZ export of a source."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.background import BackgroundTask

from .archive import Archive
from .citations import FORMATS, render, source_citations
from .config import Settings
from .wacz_export import export_wacz

__all__ = ["router"]

router = APIRouter(tags=["citations"])

_MEDIA_TYPES = {
    "robust-html": "text/html; charset=utf-8",
    "markdown": "text/markdown; charset=utf-8",
    "text": "text/plain; charset=utf-8",
    "bibtex": "application/x-bibtex; charset=utf-8",
    "wikipedia": "text/plain; charset=utf-8",
}


def _archive(request: Request) -> Archive:
    archive: Archive = request.app.state.archive
    return archive


def _base_url(request: Request) -> str:
    """Replay links point at the configured public URL, else at the address this request used."""
    settings: Settings = request.app.state.settings
    return settings.public_url.rstrip("/") if settings.public_url else str(request.base_url).rstrip("/")


@router.get(
    "/api/sources/{source_id}/cite",
    summary="Citations of a source and each source it cites, with their archived copies",
    response_model=None,
)
def cite(
    request: Request,
    source_id: int,
    format: Annotated[
        str, Query(description=f"One of {', '.join(FORMATS)}, or json.")
    ] = "robust-html",
) -> Response:
    citations = source_citations(_archive(request), source_id, _base_url(request))
    if format == "json":
        return JSONResponse({"source_id": source_id, "citations": [c.as_json() for c in citations]})
    text = render(citations, format, source_id=source_id)
    return PlainTextResponse(text, media_type=_MEDIA_TYPES[format])


@router.get(
    "/api/sources/{source_id}/wacz",
    summary="A WACZ package of a source's snapshots (records copied from the WARC files)",
    response_class=FileResponse,
)
async def wacz(request: Request, source_id: int) -> FileResponse:
    tmp = Path(tempfile.mkdtemp(prefix="citevault-wacz-"))
    try:
        result = await run_in_threadpool(export_wacz, _archive(request), source_id, tmp / "export.wacz")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return FileResponse(
        result.path,
        media_type="application/zip",  # WACZ has no registered media type; it is a ZIP
        filename=f"citevault-source-{source_id}.wacz",
        background=BackgroundTask(shutil.rmtree, tmp, ignore_errors=True),
    )
