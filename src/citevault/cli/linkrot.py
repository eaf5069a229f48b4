"""Link-health commands: `check` (re-check cited URLs now) and `report` (which citations rotted or
drifted, since when, and the archived copy to cite instead)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from .base import JsonOpt, OptionalSource, print_json, settings, stderr

if TYPE_CHECKING:
    from rich.console import Console

    from citevault.storage.models import LinkCheck

__all__ = ["check", "commands", "report"]

# Each command imports what it runs: `--help` imports this module too (cli/base.py says why).


def commands() -> typer.Typer:
    app = typer.Typer()
    app.command()(check)
    app.command()(report)
    return app


_STYLE = {"alive": "green", "redirected": "yellow", "drifted": "magenta", "gone": "red", "error": "red"}


def _outcome(outcome: str | None) -> str:
    if outcome is None:
        return "[dim]unchecked[/]"
    return f"[{_STYLE.get(outcome, 'white')}]{outcome}[/]"


def check(source_id: OptionalSource = None, json_out: JsonOpt = False) -> None:
    """Check the cited URLs of one source (or every source) now and record the results."""
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import Progress
    from rich.table import Table

    from ..archive import Archive
    from ..linkrot import check_all, check_source, linkcheck_json

    with Archive(settings()) as archive, Progress(console=stderr(), transient=True) as progress:
        task = progress.add_task("checking links", total=None)

        def tick(lc: LinkCheck) -> None:
            progress.update(task, advance=1, description=f"{lc.outcome:>10} {escape(lc.url[:60])}")

        if source_id is None:
            results = check_all(archive, tick)
        else:
            results = {source_id: check_source(archive, source_id, tick)}
    if json_out:
        print_json({"sources": [
            {"id": sid, "checks": [linkcheck_json(lc) for lc in rows]} for sid, rows in results.items()
        ]})
        return
    out = Console()
    table = Table(title="citevault check")
    for col in ("source", "outcome", "status", "url", "similarity", "detail"):
        table.add_column(col, overflow="fold")
    counts: dict[str, int] = {}
    for sid, rows in results.items():
        for lc in rows:
            counts[lc.outcome] = counts.get(lc.outcome, 0) + 1
            sim = f"{lc.similarity:.2f}" if lc.similarity is not None else "-"
            table.add_row(str(sid), _outcome(lc.outcome), str(lc.status or "-"), escape(lc.url), sim,
                          escape(lc.detail or ""))
    out.print(table)
    out.print(", ".join(f"{n} {o}" for o, n in sorted(counts.items())) or "nothing to check")


def report(source_id: OptionalSource = None, json_out: JsonOpt = False) -> None:
    """Per citation: status now, since when, and the archived copy to cite instead."""
    from rich.console import Console

    from ..archive import Archive
    from ..linkrot import report_all, report_source

    cfg = settings()
    with Archive(cfg) as archive:
        if source_id is None:
            doc = report_all(archive, cfg.base_url)
        else:
            doc = report_source(archive, source_id, cfg.base_url)
    if json_out:
        print_json(doc)
        return
    out = Console()
    for rep in doc["sources"] if source_id is None else [doc]:
        _print_report(out, rep)


def _print_report(out: Console, rep: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    summary = ", ".join(f"{n} {o}" for o, n in sorted(rep["summary"].items()))
    out.print(f"[bold]source {rep['id']}[/] {escape(rep['url'])}  ({summary})")
    table = Table()
    for col in ("outcome", "since", "status", "url", "archived copy"):
        table.add_column(col, overflow="fold")
    for c in rep["citations"]:
        where = escape(c["url"]) + (f"\n-> {escape(c['final_url'])}" if c["final_url"] else "")
        if c["detail"] and c["outcome"] != "alive":
            where += f"\n[dim]{escape(c['detail'])}[/]"
        copy = c["archived"]
        if c["cite_instead"]:
            archived = f"[bold]cite instead:[/] {escape(c['cite_instead'])}"
        elif copy is None:
            archived = "[red]none[/]"
        elif (copy["status"] or 0) >= 400:
            archived = f"[red]only an HTTP {copy['status']}[/] [dim]{escape(copy['replay_url'])}[/]"
        else:
            archived = f"[dim]{escape(copy['replay_url'])}[/]"
        table.add_row(_outcome(c["outcome"]), c["since"] or "-", str(c["status"] or "-"), where, archived)
    out.print(table)
