"""Outlinks of archived pages found again in their payloads: `reindex`, and crash recovery of
records the index never got."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import insert, select

from citevault.storage.errors import CitevaultError
from citevault.storage.models import HTML_TYPES, Capture, Link

if TYPE_CHECKING:
    from .archive import Archive

__all__ = ["rebuild_links"]


def rebuild_links(archive: Archive, snapshot_ids: list[int] | None = None) -> int:
    """Outlinks of every seed or cited HTML page (of these snapshots, or all) that has none
    indexed, found again in its archived payload the way the capture found them. Returns how many
    links were added."""
    from citevault.crawler.links import extract_page_links  # lxml: only when needed
    from citevault.crawler.metadata import looks_like_article, main_links

    with archive.index.session() as s:
        pages = list(s.scalars(
            select(Capture).where(
                Capture.role.in_(("seed", "cited")), Capture.mime.in_(HTML_TYPES),
                Capture.status >= 200, Capture.status < 300, Capture.warc.is_not(None),
                ~select(Link.id).where(Link.capture_id == Capture.id).exists(),
                *([Capture.snapshot_id.in_(snapshot_ids)] if snapshot_ids is not None else []),
            ).order_by(Capture.id)
        ))
    added = 0
    for cap in pages:
        try:
            _, rec = archive.resolve(cap)
        except CitevaultError:
            continue  # a missing or damaged record: `verify` reports it
        seed = cap.role == "seed"
        main = main_links(rec.decoded, cap.url) if seed and looks_like_article(rec.decoded) else set()
        page = extract_page_links(rec.decoded, cap.url, guess_favicon=seed, main_links=main)
        links = [(u, t, "cited") for u, t in page.cited]
        links += [(u, t, "navigation") for u, t in page.navigation]
        links += [(u, "", "embed") for u in page.embeds]
        if links:
            with archive.index.session() as s:
                s.execute(insert(Link), [
                    {"capture_id": cap.id, "url": u, "text": t or None, "kind": k} for u, t, k in links
                ])
            added += len(links)
    return added
