"""Commands that hand archived copies to writers: `cite`, `export --wacz` and `decorate`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from citevault.storage.errors import CaptureFailed

from .archive import Archive
from .citations import FORMATS, source_citations
from .citations import cite as cite_text
from .clibase import JsonOpt, app, cli_errors, err, print_json, settings
from .decorate import decorate_file, document_kind
from .wacz_export import check_writable, export_wacz

__all__ = ["cite", "decorate", "export"]

SourceArg = Annotated[int, typer.Argument(help="A source id (see `list`).")]


@app.command()
@cli_errors
def cite(
    source_id: SourceArg,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help=f"One of: {', '.join(FORMATS)}.")
    ] = "robust-html",
    json_out: JsonOpt = False,
) -> None:
    """Citation text for a source and each source it cites, pointing at the archived copies."""
    cfg = settings()
    archive = Archive(cfg)
    try:
        if json_out:
            cites = source_citations(archive, source_id, cfg.base_url)
            print_json({"source_id": source_id, "citations": [c.as_json() for c in cites]})
        else:
            sys.stdout.write(cite_text(archive, source_id, fmt, cfg.base_url))
            sys.stdout.flush()
    finally:
        archive.close()


@app.command()
@cli_errors
def export(
    source_id: SourceArg,
    wacz: Annotated[Path, typer.Option("--wacz", help="Write a WACZ package to this file.")],
) -> None:
    """A self-contained WACZ of a source's snapshots (records copied from our WARC files)."""
    check_writable(wacz)
    archive = Archive(settings())
    try:
        result = export_wacz(archive, source_id, wacz)
    finally:
        archive.close()
    err.print(f"{result.path}: {result.records} WARC records, {result.pages} pages, {result.size} bytes")


@app.command()
@cli_errors
def decorate(
    file: Annotated[Path, typer.Argument(help="An .html or .md document.")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write here instead of FILE.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Archive every link of a document and write it back with each link decorated with its
    archived copy (Robust Links in HTML, an "archived" link after it in Markdown)."""
    document_kind(file)
    check_writable(output or file)
    cfg = settings()
    archive = Archive(cfg)
    try:
        with err.status(f"archiving the links of {file}", spinner="dots"):
            result = decorate_file(archive, file, output, base_url=cfg.base_url)
    finally:
        archive.close()
    if json_out:
        print_json(result.as_json())
    else:
        for ln in result.links:
            if ln.state != "decorated":
                err.print(f"  {ln.state}: {ln.url}: {ln.reason}", markup=False, highlight=False)
        err.print(f"{result.count('decorated')} of {len(result.links)} links decorated -> {result.output}",
                  markup=False, highlight=False)
    attempted = result.count("decorated") + result.count("failed")
    if attempted and not result.count("decorated"):
        raise CaptureFailed(f"none of the {attempted} links of {file} could be archived")
