"""Commands that look after the archive itself: `verify` (fixity) and `reindex` (rebuild the index)."""

from __future__ import annotations

import typer
from rich.console import Console
from sqlalchemy import insert, select

from citevault.storage.errors import CitevaultError
from citevault.storage.models import HTML_TYPES, Capture, Link
from citevault.storage.reindex import reindex as rebuild_index
from citevault.storage.verify import verify as verify_records

from ..archive import Archive
from . import JsonOpt, print_json, settings

__all__ = ["commands", "rebuild_links", "reindex", "verify"]



def commands() -> typer.Typer:
    app = typer.Typer()
    app.command()(verify)
    app.command()(reindex)
    return app


def rebuild_links(archive: Archive) -> int:
    """Outlinks of every seed or cited HTML page that has none indexed, found again in its
    archived payload the way the capture found them. Returns how many links were added."""
    from citevault.crawler.links import extract_page_links  # lxml: only when needed

    with archive.index.session() as s:
        pages = list(s.scalars(
            select(Capture).where(
                Capture.role.in_(("seed", "cited")), Capture.mime.in_(HTML_TYPES),
                Capture.status >= 200, Capture.status < 300, Capture.warc.is_not(None),
                ~select(Link.id).where(Link.capture_id == Capture.id).exists(),
            ).order_by(Capture.id)
        ))
    added = 0
    for cap in pages:
        try:
            _, rec = archive.resolve(cap)
        except CitevaultError:
            continue  # a missing or damaged record: `verify` reports it
        page = extract_page_links(rec.decoded, cap.url, guess_favicon=cap.role == "seed")
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


def verify(json_out: JsonOpt = False) -> None:
    """Fixity check: read every indexed record back and compare its digests. Exit 1 on any problem."""
    with Archive(settings()) as archive:
        problems = verify_records(archive.index, archive.warc_dir)
        if json_out:
            print_json({"ok": not problems, "problems": [p.__dict__ for p in problems]})
        else:
            out = Console()
            for p in problems:
                out.print(f"[red]BAD[/] capture {p.capture_id} {p.url} ({p.warc}:{p.offset}): {p.reason}")
            out.print("all records match the index" if not problems else f"{len(problems)} problem(s)")
        if problems:
            raise typer.Exit(1)


def reindex(json_out: JsonOpt = False) -> None:
    """Rebuild the index from the WARC files: add every source, snapshot, capture and link the
    index lacks (after losing the database, point it at an empty one and run this)."""
    with Archive(settings()) as archive:
        result = rebuild_index(archive.index, archive.warc_dir)
        links = rebuild_links(archive)
        if json_out:
            print_json({**result.__dict__, "links": links})
            return
        Console().print(
            f"{result.files} WARC files, {result.records} records, {result.added} added to the index"
            f" ({result.sources} sources, {result.snapshots} snapshots, {links} links)"
            + (f"; skipped {len(result.skipped_open)} open file(s)" if result.skipped_open else "")
        )
