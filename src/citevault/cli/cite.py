"""Commands that hand archived copies to writers: `cite` (citation text) and `export --wacz`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..citestyles import FORMATS
from .base import JsonOpt, SourceArg, print_json, settings, stderr

__all__ = ["cite", "commands", "export"]

# Each command imports what it runs: citations.py imports lxml and SQLAlchemy, which `--help` does
# without (cli/base.py); its FORMATS live in citestyles.py, which imports neither.


def commands() -> typer.Typer:
    app = typer.Typer()
    app.command()(cite)
    app.command()(export)
    return app


def cite(
    source_id: SourceArg,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help=f"One of: {', '.join(FORMATS)}.")
    ] = "robust-html",
    json_out: JsonOpt = False,
) -> None:
    """Citation text for a source and each source it cites, pointing at the archived copies."""
    from ..archive import Archive
    from ..citations import cite as cite_text
    from ..citations import source_citations

    cfg = settings()
    with Archive(cfg) as archive:
        if json_out:
            cites = source_citations(archive, source_id, cfg.base_url)
            print_json({"source_id": source_id, "citations": [c.as_json() for c in cites]})
        else:
            sys.stdout.write(cite_text(archive, source_id, fmt, cfg.base_url))
            sys.stdout.flush()


def export(
    source_id: SourceArg,
    wacz: Annotated[Path, typer.Option("--wacz", help="Write a WACZ package to this file.")],
) -> None:
    """A self-contained WACZ of a source's snapshots (records copied from our WARC files)."""
    from rich.markup import escape

    from ..archive import Archive
    from ..wacz_export import check_writable, export_wacz

    check_writable(wacz)
    with Archive(settings()) as archive:
        result = export_wacz(archive, source_id, wacz)
    stderr().print(f"{escape(str(result.path))}: {result.records} WARC records, {result.pages} pages, "
                   f"{result.size} bytes")
