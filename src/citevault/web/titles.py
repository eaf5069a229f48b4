"""Titles of archived sources for the interface's lists: the <title> of each source's newest good
seed page, read once from its WARC record and remembered per capture (records never change)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from starlette.datastructures import State

from citevault.storage.models import Capture, Snapshot

from ..archive import Archive
from ..citations import is_error_title, page_title

__all__ = ["source_thumbnails", "source_titles"]

_REMEMBERED = 10_000  # titles kept per process; forgetting only costs a WARC read


def source_titles(state: State, archive: Archive, source_ids: Iterable[int]) -> dict[int, str | None]:
    """Source id -> title of its newest page that answered 2xx (None when there is none yet)."""
    cache: dict[int, str | None] = state.titles  # made by create_app
    out: dict[int, str | None] = {}
    with archive.index.session() as s:
        for sid in source_ids:
            cap = s.scalars(
                select(Capture).join(Snapshot, Capture.snapshot_id == Snapshot.id)
                .where(Snapshot.source_id == sid, Capture.role.in_(("seed", "redirect")),
                       Capture.warc.is_not(None), Capture.status >= 200, Capture.status < 300)
                .order_by(Capture.id.desc()).limit(1)
            ).first()
            if cap is None:
                out[sid] = None
                continue
            if cap.id not in cache:
                title = page_title(archive, cap)
                if len(cache) >= _REMEMBERED:
                    cache.clear()
                cache[cap.id] = title if title and not is_error_title(title) else None
            out[sid] = cache[cap.id]
    return out


def source_thumbnails(archive: Archive, source_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """Source id -> (timestamp, page URL) of the newest viewport screenshot browser capture made of
    one of its pages (`urn:view:URL`), for the /seen/ route; sources never rendered are left out."""
    out: dict[int, tuple[str, str]] = {}
    with archive.index.session() as s:
        for sid in source_ids:
            row = s.execute(
                select(Capture.timestamp, Capture.url).join(Snapshot, Capture.snapshot_id == Snapshot.id)
                .where(Snapshot.source_id == sid, Capture.url.startswith("urn:view:"),
                       Capture.warc.is_not(None))
                .order_by(Capture.id.desc()).limit(1)
            ).first()
            if row is not None:
                out[sid] = (row.timestamp, row.url.removeprefix("urn:view:"))
    return out
