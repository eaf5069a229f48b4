"""Commands that look after the archive itself: `verify` (fixity, evidence; or a WACZ offline) and
`reindex` (rebuild the index)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from citevault.storage.errors import CaptureFailed

from .base import JsonOpt, print_json, settings
from .evidence import TsaCaOpt, print_archive_evidence, verify_package

__all__ = ["commands", "reindex", "verify"]

# Each command imports what it runs: `--help` imports this module too (cli/base.py says why).


def commands() -> typer.Typer:
    app = typer.Typer()
    app.command()(verify)
    app.command()(reindex)
    return app


def verify(
    wacz: Annotated[
        Path | None, typer.Argument(help="A WACZ package to check offline instead of the archive.")
    ] = None,
    tsa_ca: TsaCaOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Fixity check: read every indexed record back and compare its digests, and check each
    snapshot's manifest and timestamps. With FILE.wacz: check the package offline (file hashes,
    signature, timestamps, records against manifests). Exit 1 on any problem."""
    if wacz is not None:
        verify_package(wacz, tsa_ca, json_out)
        return
    from rich.console import Console
    from rich.markup import escape

    from citevault.storage.verify import verify as verify_records

    from ..archive import Archive

    with Archive(settings()) as archive:
        checked = 0

        def count(n: int) -> None:
            nonlocal checked
            checked = n

        problems = verify_records(archive.index, archive.warc_dir, count)
        out = Console(quiet=json_out)
        for p in problems:
            where = escape(f"{p.url} ({p.warc}:{p.offset}): {p.reason}")
            out.print(f"[red]BAD[/] capture {p.capture_id} {where}", highlight=False)
        if problems:
            out.print(f"{len(problems)} problem(s) in {checked} record(s)")
        elif checked:
            out.print(f"all {checked} records match the index")
        else:
            out.print("nothing to verify: the index holds no archived records "
                      f"({escape(str(archive.warc_dir))})")
        evidence = print_archive_evidence(archive, tsa_ca, out)
        ok = not problems and not evidence.problems
        if json_out:
            print_json({"ok": ok, "checked": checked, "problems": [p.__dict__ for p in problems],
                        "evidence": evidence.__dict__})
        if not ok:
            raise typer.Exit(1)


def reindex(json_out: JsonOpt = False) -> None:
    """Rebuild the index from the WARC files: add every source, snapshot, capture and link the
    index lacks, the metadata and full-text index of every archived page, and the schedules of
    its sources (after losing the database, point it at an empty one and run this). Exit 1 when
    there is no WARC file to rebuild from."""
    from rich.console import Console

    from citevault.crawler.pageindex import index_pages
    from citevault.storage.reindex import reindex as rebuild_index

    from ..archive import Archive
    from ..evidence import reindex_evidence
    from ..outlinks import rebuild_links
    from ..scheduler import open_schedules  # APScheduler: only when needed

    with Archive(settings()) as archive:
        result = rebuild_index(archive.index, archive.warc_dir)
        links = rebuild_links(archive)
        pages = index_pages(archive.index, archive.warc_dir)
        evidence = reindex_evidence(archive.index, archive.warc_dir)
        with open_schedules(archive) as sched:
            jobs = sched.restore(archive.settings)
    if json_out:
        print_json({**result.__dict__, "links": links, "pages": pages, "evidence_records": evidence.added,
                    "schedules": jobs})
    else:
        Console().print(
            f"{result.files} WARC files, {result.records} records, {result.added} added to the index"
            f" ({result.sources} sources, {result.snapshots} snapshots, {links} links, {pages} pages,"
            f" {evidence.added} evidence records, {len(jobs)} schedule jobs)"
            + (f"; closed {len(result.recovered)} file(s) a crashed capture left open"
               if result.recovered else "")
        )
    if not result.files:
        raise CaptureFailed(f"no WARC files in {archive.warc_dir}: nothing to rebuild the index from")
