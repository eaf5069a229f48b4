"""JSON views of index rows, shared by the CLI (--json) and the HTTP API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citevault.storage.models import Capture, Link, LinkCheck, Snapshot, Source

from .evidence import snapshot_evidence

__all__ = [
    "capture_json", "cdx_row", "iso_utc", "iter_captures", "snapshot_json", "source_detail", "source_summary",
]

_STREAM_ROWS = 1_000  # captures loaded at a time by `iter_captures`


def iso_utc(dt: Any) -> str | None:
    """A naive UTC datetime of the index as ISO 8601 with Z, to the second."""
    return dt.isoformat(timespec="seconds") + "Z" if dt is not None else None


def capture_json(c: Capture) -> dict[str, Any]:
    """A capture as `add --json` prints it."""
    return {
        "id": c.id,
        "url": c.url,
        "status": c.status,
        "role": c.role,
        "mime": c.mime,
        "timestamp": c.timestamp,
        "warc": c.warc,
        "offset": c.offset,
        "length": c.record_length,
        "sha256": c.sha256,
        "error": c.error,
        "record_type": c.record_type,
        "redirect_to": c.redirect_to,
        "via": c.via or "http",
    }


def iter_captures(s: Session, snapshot_id: int) -> Iterator[dict[str, Any]]:
    """A snapshot's captures in order, loaded a thousand at a time: a crawl can hold 100,000."""
    stmt = (select(Capture).where(Capture.snapshot_id == snapshot_id).order_by(Capture.id)
            .execution_options(yield_per=_STREAM_ROWS))
    for c in s.scalars(stmt):
        yield capture_json(c)


def snapshot_json(s: Session, snap: Snapshot, *, captures: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": snap.id,
        "source_id": snap.source_id,
        "state": snap.state,
        "trigger": snap.trigger,
        "queued_at": iso_utc(snap.queued_at),
        "started_at": iso_utc(snap.started_at),
        "finished_at": iso_utc(snap.finished_at),
        "urls_done": snap.urls_done,
        "urls_failed": snap.urls_failed,
        "bytes_written": snap.bytes_written,
        "error": snap.error,
    }
    out["evidence"] = snapshot_evidence(s, snap.id)
    if captures:
        rows = s.scalars(select(Capture).where(Capture.snapshot_id == snap.id).order_by(Capture.id))
        out["captures"] = [capture_json(c) for c in rows]
    return out


def _last_health(s: Session, source_id: int) -> dict[str, int]:
    """Outcome counts of each cited URL's latest check."""
    latest = (
        select(LinkCheck.url, func.max(LinkCheck.id).label("mid"))
        .where(LinkCheck.source_id == source_id).group_by(LinkCheck.url).subquery()
    )
    rows = s.execute(
        select(LinkCheck.outcome, func.count()).join(latest, LinkCheck.id == latest.c.mid)
        .group_by(LinkCheck.outcome)
    ).all()
    return {o: n for o, n in rows}


def source_summary(s: Session, src: Source) -> dict[str, Any]:
    last = s.scalars(
        select(Snapshot).where(Snapshot.source_id == src.id).order_by(Snapshot.id.desc()).limit(1)
    ).first()
    counts: dict[str, int] = dict(
        s.execute(
            select(Capture.role, func.count()).join(Snapshot, Capture.snapshot_id == Snapshot.id)
            .where(Snapshot.source_id == src.id).group_by(Capture.role)
        ).all()
    )
    return {
        "id": src.id,
        "url": src.url,
        "note": src.note,
        "depth": src.depth,
        "scope": src.scope,
        "schedule": src.schedule,
        "created_at": iso_utc(src.created_at),
        "snapshots": s.scalar(select(func.count()).where(Snapshot.source_id == src.id)),
        "last_state": last.state if last else None,
        "last_capture": iso_utc(last.finished_at or last.started_at) if last else None,
        "captures": sum(counts.values()),
        "cited": counts.get("cited", 0),
        "requisites": counts.get("requisite", 0),
        "health": _last_health(s, src.id),
    }


def source_detail(s: Session, src: Source) -> dict[str, Any]:
    out = source_summary(s, src)
    out["snapshots"] = [snapshot_json(s, snap) for snap in src.snapshots]
    seed_ids = select(Capture.id).join(Snapshot, Capture.snapshot_id == Snapshot.id).where(
        Snapshot.source_id == src.id, Capture.role == "seed"
    )
    links = s.execute(
        select(Link.url, Link.text, Link.kind).where(Link.capture_id.in_(seed_ids)).distinct()
    ).all()
    checks: dict[str, LinkCheck] = {}
    for lc in s.scalars(
        select(LinkCheck).where(LinkCheck.source_id == src.id).order_by(LinkCheck.id)
    ):
        checks[lc.url] = lc
    out["links"] = [
        {
            "url": u,
            "text": t,
            "kind": k,
            "health": checks[u].outcome if u in checks else None,
            "checked_at": iso_utc(checks[u].checked_at) if u in checks else None,
        }
        for u, t, k in links
    ]
    return out


def cdx_row(c: Capture) -> dict[str, Any]:
    """The CDX-like fields of a capture (history, /api/captures)."""
    return {
        "urlkey": c.surt,
        "timestamp": c.timestamp,
        "url": c.url,
        "mime": c.mime,
        "status": c.status,
        "digest": c.digest,
        "length": c.record_length,
        "offset": c.offset,
        "filename": c.warc,
        "record_type": c.record_type,
        "role": c.role,
        "error": c.error,
    }
