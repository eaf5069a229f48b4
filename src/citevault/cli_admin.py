"""Commands that look after the archive itself: `verify` (fixity) and `reindex` (rebuild the index)."""

from __future__ import annotations

import typer
from rich.console import Console

from citevault.storage.fixity import reindex as rebuild_index
from citevault.storage.fixity import verify as verify_records

from .archive import Archive
from .clibase import JsonOpt, app, cli_errors, print_json, settings

__all__ = ["reindex", "verify"]


@app.command()
@cli_errors
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


@app.command()
@cli_errors
def reindex(json_out: JsonOpt = False) -> None:
    """Rebuild the capture index from the WARC files: add every record the index lacks."""
    with Archive(settings()) as archive:
        result = rebuild_index(archive.index, archive.warc_dir)
        if json_out:
            print_json(result.__dict__)
            return
        Console().print(
            f"{result.files} WARC files, {result.records} records, {result.added} added to the index"
            + (f"; skipped {len(result.skipped_open)} open file(s)" if result.skipped_open else "")
        )
