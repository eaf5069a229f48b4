"""Query commands: `list`, `show`, `history` and `get` read what was archived."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from citevault.storage.errors import BadInput

from .base import JsonOpt, SourceArg, print_json, settings, stderr

# Each command imports what it runs (the Archive, SQLAlchemy, Rich for its tables): `--help`
# imports this module too (cli/base.py says why), and a --json listing draws no table.

__all__ = ["commands", "get", "history", "list_", "show"]


def commands() -> typer.Typer:
    app = typer.Typer()
    app.command("list")(list_)
    app.command()(show)
    app.command()(history)
    app.command()(get)
    return app


def list_(json_out: JsonOpt = False) -> None:
    """Sources with their last capture time, counts and link health."""
    from sqlalchemy import select

    from citevault.storage.models import Source

    from ..archive import Archive
    from ..serializers import source_summary

    with Archive(settings()) as archive, archive.index.session() as s:
        rows = [source_summary(s, src) for src in s.scalars(select(Source).order_by(Source.id))]
    if json_out:
        print_json({"sources": rows})
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table()
    for col in ("id", "url", "last capture", "state", "captures", "cited", "health"):
        table.add_column(col, overflow="fold")
    for r in rows:
        health = ", ".join(f"{k} {v}" for k, v in sorted(r["health"].items())) or "-"
        table.add_row(str(r["id"]), escape(r["url"]), r["last_capture"] or "-", r["last_state"] or "-",
                      str(r["captures"]), str(r["cited"]), health)
    Console().print(table)


def show(source_id: SourceArg,
         json_out: JsonOpt = False) -> None:
    """One source: its snapshots, captures and cited links with their health."""
    from citevault.storage.index import get_source

    from ..archive import Archive
    from ..serializers import source_detail

    with Archive(settings()) as archive, archive.index.session() as s:
        doc = source_detail(s, get_source(s, source_id))
    if json_out:
        print_json(doc)
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    out = Console()
    out.print(f"[bold]source {doc['id']}[/] {escape(doc['url'])}  "
              f"(depth {doc['depth']}, scope {doc['scope']})")
    for snap in doc["snapshots"]:
        out.print(f"snapshot {snap['id']}: {snap['state']}, {snap['urls_done']} captured, "
                  f"{snap['urls_failed']} failed, started {snap['started_at']}")
        table = Table()
        for col in ("role", "status", "url", "timestamp", "error"):
            table.add_column(col, overflow="fold")
        for c in snap["captures"]:
            table.add_row(c["role"], str(c["status"] or "-"), escape(c["url"]), c["timestamp"],
                          escape(c["error"] or ""))
        out.print(table)
    cited = [ln for ln in doc["links"] if ln["kind"] == "cited"]
    if cited:
        out.print(f"cited links ({len(cited)}):")
        for ln in cited:
            out.print(f"  {ln['health'] or 'unchecked':>10}  {escape(ln['url'])}")


def history(url: Annotated[str, typer.Argument(help="The URL whose captures to list.")],
            json_out: JsonOpt = False) -> None:
    """Every capture of one URL, oldest first (CDX-like fields)."""
    from citevault.storage.index import history as index_history

    from ..archive import Archive
    from ..serializers import cdx_row
    from ..urlnorm import normalize_url

    with Archive(settings()) as archive, archive.index.session() as s:
        rows = [cdx_row(c) for c in index_history(s, normalize_url(url))]
    if json_out:
        print_json({"url": url, "captures": rows})
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    if not rows:
        stderr().print(f"no captures of {escape(url)}")
        return
    table = Table()
    for col in ("timestamp", "status", "mime", "type", "length", "url"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["timestamp"], escape(str(r["status"] or r["error"])), escape(r["mime"] or "-"),
                      r["record_type"] or "-", str(r["length"] or "-"), escape(r["url"]))
    Console().print(table)


def get(
    url: Annotated[str, typer.Argument(help="The URL to fetch from the archive.")],
    at: Annotated[str | None, typer.Option("--at", help="Closest to this 14-digit timestamp.")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to this file.")] = None,
) -> None:
    """The archived payload closest to a time, decoded of its content-encoding."""
    from ..archive import Archive

    with Archive(settings()) as archive:
        cap, rec = archive.get(url, at)
    data = rec.decoded
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise BadInput(f"cannot write {output}: {exc.strerror}") from exc
    from rich.markup import escape

    stderr().print(f"{escape(cap.url)} captured {cap.timestamp} (status {cap.status}): "
                   f"{len(data)} bytes -> {escape(str(output))}")
