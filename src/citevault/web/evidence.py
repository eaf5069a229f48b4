"""Evidence routes: check an uploaded WACZ offline, and show a snapshot's provenance.

    POST /api/verify                        a WACZ as the body -> {"ok", "proven", "failures", "notes"}
    GET  /api/snapshots/{id}/provenance     {"evidence", "provenance"}: the provenance record as written
    GET  /ui/snapshots/{id}/provenance      the same as a readable provenance summary page
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from citevault.storage.errors import BadInput, NotFound, StorageError
from citevault.storage.index import get_snapshot
from citevault.storage.manifest import FETCHED_TYPES
from citevault.storage.models import EvidenceRecord
from citevault.storage.warcreader import read_payload

from ..archive import Archive
from ..evidence import snapshot_evidence, tsa_roots
from ..wacz_verify import verify_wacz
from .deps import ArchiveDep, RowId, SettingsDep, get_root, get_templates
from .pages import page_headers

__all__ = ["router"]

router = APIRouter(tags=["evidence"])

_UPLOAD_LIMIT = 4 * 1024**3  # a WACZ of a citation bundle is megabytes; this only stops a runaway


@router.post("/api/verify")
async def verify(request: Request, settings: SettingsDep) -> dict[str, Any]:
    """Verify a WACZ sent as the request body (`curl --data-binary @FILE.wacz`), offline: file
    hashes, signature, timestamp tokens (against the setting tsa_ca_file) and each WARC record
    against its snapshot's manifest. 200 with `ok` false when something failed."""
    fd, tmp = tempfile.mkstemp(prefix="citevault-verify-", suffix=".wacz")
    try:
        size = 0
        with os.fdopen(fd, "wb") as fh:
            async for chunk in request.stream():
                size += len(chunk)
                if size > _UPLOAD_LIMIT:
                    raise BadInput("the upload is too large")
                fh.write(chunk)
        if size == 0:
            raise BadInput("send the WACZ file as the request body (curl --data-binary @FILE.wacz)")
        from citevault.crawler.timestamps import TimestampError

        try:
            roots = tsa_roots(settings.tsa_ca_file)
        except TimestampError as exc:
            raise StorageError(f"the setting tsa_ca_file: {exc}") from exc
        report = await run_in_threadpool(verify_wacz, Path(tmp), roots)
        return report.as_dict()
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


# The provenance page lists at most this many fetched records (a snapshot of 100,000 URLs would
# make a page of tens of megabytes); the manifest record holds them all.
_PAGE_RECORDS = 2_000


def _evidence_where(s: Any, snapshot_id: int, kind: str) -> tuple[str, int] | None:
    row = s.scalar(select(EvidenceRecord).where(
        EvidenceRecord.snapshot_id == snapshot_id, EvidenceRecord.kind == kind
    ).order_by(EvidenceRecord.id.desc()).limit(1))
    if row is None or row.warc is None or row.offset is None:
        return None
    return row.warc, row.offset


def _provenance(archive: Archive, snapshot_id: int) -> dict[str, Any]:
    with archive.index.session() as s:
        source_id = get_snapshot(s, snapshot_id).source_id  # NotFound for an unknown id
        evidence = snapshot_evidence(s, snapshot_id)
        where = _evidence_where(s, snapshot_id, "provenance")
    if where is None:
        raise NotFound(f"snapshot {snapshot_id} has no provenance record (captured before provenance "
                       "existed, or not finished)")
    body = read_payload(archive.warc_dir, *where).payload
    return {"snapshot_id": snapshot_id, "source_id": source_id, "evidence": evidence,
            "provenance": json.loads(body)}


def _fetched(archive: Archive, snapshot_id: int, provenance: dict[str, Any]) -> list[dict[str, Any]]:
    """The fetched records to list: a version 1 provenance record's own list, else the manifest's
    (uri, type, fetch time), which version 2 leaves to it (crawler/seal.py `_write_provenance`)."""
    own = provenance.get("records")
    if isinstance(own, list):
        return own
    with archive.index.session() as s:
        where = _evidence_where(s, snapshot_id, "manifest")
    if where is None:
        return []
    listed = json.loads(read_payload(archive.warc_dir, *where).payload).get("records", [])
    return [{"fetched_at": e.get("date"), "type": e.get("type"), "uri": e.get("target_uri")}
            for e in listed if e.get("type") in FETCHED_TYPES]


@router.get("/api/snapshots/{snapshot_id}/provenance")
def provenance(snapshot_id: RowId, archive: ArchiveDep) -> dict[str, Any]:
    """A snapshot's provenance record (as written into the WARC file) and its evidence status."""
    return _provenance(archive, snapshot_id)


@router.get("/ui/snapshots/{snapshot_id}/provenance", response_class=HTMLResponse,
            include_in_schema=False)
def provenance_page(request: Request, snapshot_id: RowId, archive: ArchiveDep) -> HTMLResponse:
    """The provenance summary: who captured what, how, from which addresses, over which TLS."""
    doc = _provenance(archive, snapshot_id)
    fetched = _fetched(archive, snapshot_id, doc["provenance"])
    return get_templates(request).TemplateResponse(
        request, "provenance.html",
        {"root": get_root(request), "title": f"Provenance of snapshot {snapshot_id}", "query": "",
         "refresh": 0, "fetched": fetched[:_PAGE_RECORDS], "fetched_count": len(fetched), **doc},
        headers=page_headers(),
    )
