"""The `citevault` command line: capture now, and query what was archived."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table
from sqlalchemy import select

from citevault.storage.errors import BadInput, CaptureFailed
from citevault.storage.index import get_source
from citevault.storage.index import history as index_history
from citevault.storage.models import Snapshot, Source

from .archive import Archive
from .clibase import JsonOpt, app, cli_errors, err, print_json, settings
from .scheduler import archived_within, open_schedules, parse_duration, schedule_spec
from .urls import normalize_url
from .views import cdx_row, snapshot_json, source_detail, source_summary
from .workqueue import WorkQueue

__all__ = ["app", "get_app", "main"]

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


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


class _ProgressView:
    """Live line on stderr: URLs done / queued / failed, bytes written."""

    def __init__(self) -> None:
        self.state: dict[str, Any] = {"done": 0, "queued": 0, "failed": 0, "bytes": 0, "last_url": ""}

    def update(self, msg: dict[str, Any]) -> None:
        self.state.update(msg)

    def __rich__(self) -> str:
        s = self.state
        last = s.get("last_url") or ""
        return (
            f"[bold]capturing[/] {s['done']} done, {s['queued']} queued, {s['failed']} failed, "
            f"{_human(s['bytes'])} written  [dim]{last[:70]}[/]"
        )


@app.command()
@cli_errors
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
    json_out: JsonOpt = False,
) -> None:
    """Capture URLs now, in the foreground: the page, what it cites, and their requisites."""
    cfg = settings()
    wanted = _read_urls(urls or [], from_file)
    spec = schedule_spec(every, cron)
    within = parse_duration(if_not_archived_within) if if_not_archived_within else None
    with Archive(cfg) as archive:
        skipped: list[dict[str, Any]] = []
        if within is not None:
            clean = [normalize_url(u) for u in wanted]
            with archive.index.session() as s:
                for url in clean:
                    if (cap := archived_within(s, url, within)) is not None:
                        skipped.append({"url": url, "timestamp": cap.timestamp})
            done = {d["url"] for d in skipped}
            wanted = [u for u in clean if u not in done]
        queued = archive.queue(wanted, depth=depth, scope=scope, note=note, schedule=spec) if wanted else []
        if queued and (spec is not None or cfg.default_schedule):
            with open_schedules(archive) as sched:
                for q in queued:
                    sched.apply(cfg, q.source_id, spec)
        view = _ProgressView()
        with Live(view, console=err, refresh_per_second=8, transient=True), _sigterm_interrupts():
            WorkQueue(archive.index, lease=cfg.lease_timeout).run_here(archive, queued, view.update)
        with archive.index.session() as s:
            results: list[dict[str, Any]] = []
            for q in queued:
                snap = s.get(Snapshot, q.snapshot_id)
                assert snap is not None
                results.append({"id": q.source_id, "url": q.url, "snapshot": snapshot_json(s, snap)})
        if json_out:
            doc: dict[str, Any] = {"sources": results}
            if within is not None:
                doc["skipped"] = skipped  # only with --if-not-archived-within: the contract stays
            print_json(doc)
        else:
            _print_add_summary(results)
            for d in skipped:
                err.print(f"skipped {d['url']}: archived at {d['timestamp']}, "
                          f"within {if_not_archived_within}")
        failed = [r for r in results if r["snapshot"]["state"] == "failed"]
        if failed:  # a seed that could not be captured: exit 1, also when others were
            first = failed[0]
            what = "" if len(results) == 1 else f"{len(failed)} of {len(results)} URLs failed; "
            raise CaptureFailed(f"{what}could not capture {first['url']}: {first['snapshot']['error']}")


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM to `add` (the crawl runs in a child of its own session) ends the capture the way
    Ctrl-C does: the child is stopped and the snapshots are settled, not left running."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (embedded use): nothing to install
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _print_add_summary(results: list[dict[str, Any]]) -> None:
    out = Console()
    table = Table(title="citevault add")
    for col in ("source", "url", "state", "captured", "cited", "requisites", "failed", "bytes"):
        table.add_column(col, overflow="fold")
    for r in results:
        snap = r["snapshot"]
        caps = snap["captures"]
        ok = [c for c in caps if c["warc"]]
        table.add_row(
            str(r["id"]), r["url"], snap["state"], str(len(ok)),
            str(sum(1 for c in ok if c["role"] == "cited")),
            str(sum(1 for c in ok if c["role"] == "requisite")),
            str(sum(1 for c in caps if c["error"])), _human(snap["bytes_written"]),
        )
    out.print(table)
    for r in results:
        for c in r["snapshot"]["captures"]:
            if c["error"]:
                out.print(f"  [red]failed[/] {c['url']}: {c['error']}")


@app.command("list")
@cli_errors
def list_(json_out: JsonOpt = False) -> None:
    """Sources with their last capture time, counts and link health."""
    with Archive(settings()) as archive:
        with archive.index.session() as s:
            rows = [source_summary(s, src) for src in s.scalars(select(Source).order_by(Source.id))]
        if json_out:
            print_json({"sources": rows})
            return
        table = Table()
        for col in ("id", "url", "last capture", "state", "captures", "cited", "health"):
            table.add_column(col, overflow="fold")
        for r in rows:
            health = ", ".join(f"{k} {v}" for k, v in sorted(r["health"].items())) or "-"
            table.add_row(str(r["id"]), r["url"], r["last_capture"] or "-", r["last_state"] or "-",
                          str(r["captures"]), str(r["cited"]), health)
        Console().print(table)


@app.command()
@cli_errors
def show(source_id: Annotated[int, typer.Argument(help="A source id (see `list`).")],
         json_out: JsonOpt = False) -> None:
    """One source: its snapshots, captures and cited links with their health."""
    with Archive(settings()) as archive:
        with archive.index.session() as s:
            doc = source_detail(s, get_source(s, source_id))
        if json_out:
            print_json(doc)
            return
        out = Console()
        out.print(f"[bold]source {doc['id']}[/] {doc['url']}  (depth {doc['depth']}, scope {doc['scope']})")
        for snap in doc["snapshots"]:
            out.print(f"snapshot {snap['id']}: {snap['state']}, {snap['urls_done']} captured, "
                      f"{snap['urls_failed']} failed, started {snap['started_at']}")
            table = Table()
            for col in ("role", "status", "url", "timestamp", "error"):
                table.add_column(col, overflow="fold")
            for c in snap["captures"]:
                table.add_row(c["role"], str(c["status"] or "-"), c["url"], c["timestamp"], c["error"] or "")
            out.print(table)
        cited = [ln for ln in doc["links"] if ln["kind"] == "cited"]
        if cited:
            out.print(f"cited links ({len(cited)}):")
            for ln in cited:
                out.print(f"  {ln['health'] or 'unchecked':>10}  {ln['url']}")


@app.command()
@cli_errors
def history(url: Annotated[str, typer.Argument(help="The URL whose captures to list.")],
            json_out: JsonOpt = False) -> None:
    """Every capture of one URL, oldest first (CDX-like fields)."""
    with Archive(settings()) as archive:
        with archive.index.session() as s:
            rows = [cdx_row(c) for c in index_history(s, normalize_url(url))]
        if json_out:
            print_json({"url": url, "captures": rows})
            return
        if not rows:
            err.print(f"no captures of {url}")
            return
        table = Table()
        for col in ("timestamp", "status", "mime", "type", "length", "url"):
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(r["timestamp"], str(r["status"] or r["error"]), r["mime"] or "-",
                          r["record_type"] or "-", str(r["length"] or "-"), r["url"])
        Console().print(table)


@app.command()
@cli_errors
def get(
    url: Annotated[str, typer.Argument(help="The URL to fetch from the archive.")],
    at: Annotated[str | None, typer.Option("--at", help="Closest to this 14-digit timestamp.")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to this file.")] = None,
) -> None:
    """The archived payload closest to a time, decoded of its content-encoding."""
    with Archive(settings()) as archive:
        cap, rec = archive.get(url, at)
        data = rec.decoded
        if output is None:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        else:
            try:
                output.write_bytes(data)
            except OSError as exc:
                raise BadInput(f"cannot write {output}: {exc.strerror}") from exc
            err.print(f"{cap.url} captured {cap.timestamp} (status {cap.status}): "
                      f"{len(data)} bytes -> {output}")


def get_app() -> typer.Typer:
    """The app with every command module registered (each adds its commands when imported)."""
    from . import (  # noqa: F401  (imported for their side effect: registering commands)
        cli_admin,
        cli_cite,
        cli_health,
        cli_search,
        cli_service,
    )

    return app


def main() -> None:
    get_app()()
