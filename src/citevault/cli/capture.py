"""Capture commands: `add` (archive URLs now, in the foreground) and `decorate` (archive every link
of a document and write it back with the archived copies)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from citevault.storage.errors import BadInput, CaptureFailed

from .base import JsonOpt, fail, print_json, settings, stderr

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ..config import Settings

__all__ = ["RUNS_WITH", "add", "commands", "decorate"]

# SQLAlchemy, the models and the Archive are imported by the commands that use them, not here:
# `citevault --help` imports this module too (cli/base.py says why). `main` imports these, and
# the Archive, before it runs `add` or `decorate`, with the collector off (cli/__init__.py). The
# seeds' SURT keys need surt (with tldextract and requests, about a tenth of a second); imported
# before the fork server is forked, it inherits them instead of importing them again for the
# crawl (benchmarks/history/2026-12-07-and-before.md, p-perf3, start-up (b)).
RUNS_WITH = ("citevault.crawler.forkserver", "citevault.serializers", "surt")

# Rich is imported where it draws (the live line on a terminal, the summary table), not
# here: `add --json` off a terminal (a script's, a benchmark's) never draws, and Rich is a
# tenth of its start-up CPU (benchmarks/history/2026-12-07-p-start6-eve.md).


def commands() -> typer.Typer:
    app = typer.Typer()
    app.command()(add)
    app.command()(decorate)
    return app


def _read_urls(urls: list[str], from_file: str | None) -> list[str]:
    out = [u for u in urls if u != "-"]
    sources: list[str] = []
    if from_file:
        sources.append(from_file)
    if "-" in urls:
        sources.append("-")
    for name in sources:
        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
        except OSError as exc:
            raise BadInput(f"cannot read {name}: {exc.strerror}") from exc
        out += [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if not out:
        raise BadInput("no URL given (pass URLs, --from-file FILE, or - to read standard input)")
    return out


class _ProgressView:
    """Live line on stderr: URLs done / queued / failed, bytes written."""

    def __init__(self) -> None:
        self.state: dict[str, Any] = {"done": 0, "queued": 0, "failed": 0, "bytes": 0, "last_url": ""}

    def update(self, msg: dict[str, Any]) -> None:
        self.state.update(msg)

    def __rich__(self) -> str:
        from rich.filesize import decimal
        from rich.markup import escape

        s = self.state
        last = s.get("last_url") or ""
        return (
            f"[bold]capturing[/] {s['done']} done, {s['queued']} queued, {s['failed']} failed, "
            f"{decimal(s['bytes'])} written  [dim]{escape(last[:70])}[/]"
        )


def add(
    urls: Annotated[list[str] | None, typer.Argument(help="URLs to archive; - reads standard input.")] = None,
    depth: Annotated[int, typer.Option(help="0: the page and its requisites; 1: also what it cites.")] = 1,
    scope: Annotated[str, typer.Option(help="cited: main-content links; all: every outlink.")] = "cited",
    every: Annotated[str | None, typer.Option(
        help="Also recapture on this interval (6h, 30m, 1d, 90s), run by `citevault serve`.")] = None,
    cron: Annotated[str | None, typer.Option(
        help="Also recapture on this cron schedule (5 fields, UTC), run by `citevault serve`.")] = None,
    if_not_archived_within: Annotated[str | None, typer.Option(
        "--if-not-archived-within", help="Skip URLs captured more recently than this (e.g. 24h).")] = None,
    note: Annotated[str | None, typer.Option(help="A note kept with the source.")] = None,
    from_file: Annotated[str | None, typer.Option("--from-file", help="Read URLs, one a line.")] = None,
    browser: Annotated[str | None, typer.Option(
        help="auto: render script-built pages in Chromium; always; never. Default: CITEVAULT_BROWSER. "
        "Kept with the source for its recaptures.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Capture URLs now, in the foreground: the page, what it cites, and their requisites."""
    from citevault.crawler.forkserver import prestart
    from citevault.storage.models import Snapshot

    from ..archive import Archive
    from ..serializers import iter_captures, snapshot_json

    cfg = settings()
    wanted = _read_urls(urls or [], from_file)
    if (note_line := browser_check(cfg, browser)) is not None:
        typer.echo(note_line, err=True)
    import surt  # noqa: F401  (see RUNS_WITH: imported by main already)

    # Now, before any database connection or thread (Rich's live display) exists: the crawl's
    # fork server is then forked from this process (after importing the index's driver, which
    # both use), and preloads while the index is opened.
    prestart(cfg.effective_database_url)
    with Archive(cfg) as archive:
        view = _ProgressView()
        with _live(view):
            done = archive.capture_now(
                wanted, depth=depth, scope=scope, every=every, cron=cron, note=note, browser=browser,
                if_not_archived_within=if_not_archived_within, on_progress=view.update,
            )
        # A crawl can hold 100,000 captures: they are streamed to the JSON document and counted
        # in SQL for the table, never all loaded at once (benchmarks/history/2026-12-07-and-before.md,
        # p-perf3, item 4).
        with archive.index.session() as s:
            results: list[dict[str, Any]] = []
            for q in done.queued:
                snap = s.get(Snapshot, q.snapshot_id)
                assert snap is not None
                results.append({"id": q.source_id, "url": q.url,
                                "snapshot": snapshot_json(s, snap, captures=False)})
            if json_out:
                for r in results:
                    r["snapshot"]["captures"] = iter_captures(s, r["snapshot"]["id"])
                doc: dict[str, Any] = {"sources": results}
                if if_not_archived_within is not None:  # only with that option: the contract stays
                    doc["skipped"] = [{"url": k.url, "timestamp": k.capture.timestamp} for k in done.skipped]
                print_json(doc)
            else:
                _print_add_summary(s, results)
                for k in done.skipped:
                    typer.echo(f"skipped {k.url}: archived at {k.capture.timestamp}, "
                               f"within {if_not_archived_within}", err=True)
            kept = sum(_tally(s, r["snapshot"]["id"])["captured"] for r in results) if done.interrupted else 0
    if done.interrupted:
        fail(f"interrupted: kept {kept} record(s) of what was captured so far", 130)
    failed = [r for r in results if r["snapshot"]["state"] == "failed"]
    if failed:  # a seed that could not be captured or answered an error: exit 1, also when others were
        first = failed[0]
        what = "" if len(results) == 1 else f"{len(failed)} of {len(results)} URLs failed; "
        raise CaptureFailed(f"{what}could not capture {first['url']}: {first['snapshot']['error']}")


def _live(view: _ProgressView) -> contextlib.AbstractContextManager[Any]:
    """The live progress line, on a terminal only: elsewhere Rich's transient display draws
    nothing anyway (and would still start its refresh thread)."""
    if not sys.stderr.isatty():
        return contextlib.nullcontext()
    from rich.live import Live

    return Live(view, console=stderr(), refresh_per_second=8, transient=True)


def browser_check(cfg: Settings, browser: str | None) -> str | None:
    """A warning line when pages that need a browser will be captured over HTTP only (Chromium
    missing under auto); BadInput when the browser was asked for (always) and is missing."""
    # Imported here: the browser modules pull in lxml, which a plain `add` start-up does without.
    from citevault.crawler.browser import chromium_path
    from citevault.crawler.progress import BROWSER_MODES

    mode = browser or cfg.browser
    if mode not in BROWSER_MODES:
        raise BadInput(f"--browser must be one of {', '.join(BROWSER_MODES)}, not {mode!r}")
    if mode == "never" or chromium_path(cfg.chromium) is not None:
        return None
    where = cfg.chromium or "/usr/bin/chromium"
    if mode == "always":
        raise BadInput(f"--browser always needs Chromium, not found at {where} "
                       "(apt-get install chromium, or set CITEVAULT_CHROMIUM)")
    return f"warning: Chromium not found at {where}: pages that need a browser are captured over HTTP only"


def _tally(s: Session, snapshot_id: int) -> dict[str, Any]:
    """What the summary table counts of a snapshot's captures, counted by the database."""
    from sqlalchemy import func, select

    from citevault.storage.models import Capture

    archived, erred = Capture.warc.is_not(None), Capture.error.is_not(None)
    out: dict[str, Any] = {"captured": 0, "cited": 0, "requisite": 0, "failed": 0}
    rows = s.execute(
        select(Capture.role, archived, erred, func.count())
        .where(Capture.snapshot_id == snapshot_id).group_by(Capture.role, archived, erred)
    )
    for role, ok, failed, n in rows:
        if ok:
            out["captured"] += n
            if role in ("cited", "requisite"):
                out[role] += n
        if failed:
            out["failed"] += n
    # The page itself, redirects followed: the first archived capture in the seed's role.
    out["seed_status"] = s.scalar(
        select(Capture.status).where(Capture.snapshot_id == snapshot_id, Capture.role == "seed", archived)
        .order_by(Capture.id).limit(1)
    )
    return out


def _print_add_summary(s: Session, results: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.filesize import decimal
    from rich.markup import escape
    from rich.table import Table
    from sqlalchemy import select

    from citevault.storage.models import Capture

    out = Console()
    table = Table(title="citevault add")
    for col in ("source", "url", "state", "status", "captured", "cited", "requisites", "failed", "bytes"):
        table.add_column(col, overflow="fold")
    for r in results:
        snap = r["snapshot"]
        n = _tally(s, snap["id"])
        table.add_row(
            str(r["id"]), escape(r["url"]), snap["state"],
            "-" if n["seed_status"] is None else str(n["seed_status"]),
            str(n["captured"]), str(n["cited"]), str(n["requisite"]), str(n["failed"]),
            decimal(snap["bytes_written"]),
        )
    out.print(table)
    for r in results:
        snap = r["snapshot"]
        erred = select(Capture.url, Capture.error).where(
            Capture.snapshot_id == snap["id"], Capture.error.is_not(None))
        why = snap["error"]
        said = why is not None and s.scalar(select(erred.where(Capture.error == why).exists()))
        if snap["state"] == "failed" and why and not said:  # else said below, per capture
            out.print(f"  [red]failed[/] {escape(r['url'])}: {escape(why)}", highlight=False)
        for url, error in s.execute(erred.order_by(Capture.id).execution_options(yield_per=1_000)):
            out.print(f"  [red]failed[/] {escape(url)}: {escape(str(error))}", highlight=False)


def decorate(
    file: Annotated[Path, typer.Argument(help="An .html or .md document.")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write here instead of FILE.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Archive every link of a document and write it back with each link decorated with its
    archived copy (Robust Links in HTML, an "archived" link after it in Markdown)."""
    # Imported here: lxml and the citation formats cost `add` start-up CPU it has no use for.
    from ..archive import Archive
    from ..decorate import decorate_file, document_kind
    from ..wacz_export import check_writable

    document_kind(file)
    check_writable(output or file)
    cfg = settings()
    err = stderr()
    with Archive(cfg) as archive, err.status(f"archiving the links of {file}", spinner="dots"):
        result = decorate_file(archive, file, output, base_url=cfg.base_url)
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
