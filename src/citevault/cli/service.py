"""Commands of the background service: `serve`, `worker`, `token`, `schedule`."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from citevault.storage.errors import BadInput

from .base import JsonOpt, fail, print_json, settings, stderr

__all__ = ["commands"]

# Each command imports what it runs: `--help` imports this module too (cli/base.py says why).


def commands() -> typer.Typer:
    """`serve` and `worker`, with the `token` and `schedule` groups."""
    app = typer.Typer()
    app.command()(serve)
    app.command()(worker)
    tokens = typer.Typer(help="Bearer tokens of the HTTP API.", no_args_is_help=True)
    tokens.command("create")(token_create)
    tokens.command("list")(token_list)
    tokens.command("revoke")(token_revoke)
    app.add_typer(tokens, name="token")
    schedules = typer.Typer(help="Recapture and link-check schedules.", no_args_is_help=True)
    schedules.command("list")(schedule_list)
    schedules.command("pause")(schedule_pause)
    schedules.command("resume")(schedule_resume)
    schedules.command("remove")(schedule_remove)
    app.add_typer(schedules, name="schedule")
    return app


def _logging() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: setting host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default: setting port).")] = None,
) -> None:
    """Run the service: HTTP API, scheduler and capture workers, until SIGTERM or Ctrl-C."""
    from citevault.crawler.forkserver import prestart

    from ..config import load_settings
    from ..service import run_service

    settings()  # a bad setting is a one-line error
    if port is not None and not 0 < port < 65536:
        raise BadInput(f"--port must be between 1 and 65535, not {port}")
    cfg = load_settings(host=host, port=port)
    # The crawl's fork server, as `worker` starts it (one thread, no connection yet): with the
    # index's URL, so that on PostgreSQL it prepares its children's engine, and for many jobs.
    prestart(cfg.effective_database_url, many_jobs=True)
    _logging()
    err = stderr()
    code = run_service(cfg, lambda line: err.print(line, soft_wrap=True, markup=False, highlight=False))
    raise typer.Exit(code)


def worker() -> None:
    """Run capture workers that take their work from Redis (set CITEVAULT_REDIS_URL)."""
    from citevault.crawler.forkserver import prestart

    from ..service import run_workers

    cfg = settings()
    if not cfg.redis_url:
        fail("`citevault worker` takes work from Redis: set CITEVAULT_REDIS_URL (for example "
             "redis://localhost:6379/0); without it, `citevault serve` runs the workers itself")
    # The crawl's fork server, forked from this process now (one thread, no connection, logging
    # not yet configured, as in a new interpreter): it shares what the worker has imported
    # instead of importing it again.
    prestart(cfg.effective_database_url, many_jobs=True)
    _logging()
    stderr().print(f"citevault worker: {max(1, cfg.workers)} capture worker(s) on {cfg.redis_url}",
                   soft_wrap=True)
    raise typer.Exit(run_workers(cfg))


# -- tokens ----------------------------------------------------------------------------------------
def token_create(name: Annotated[str, typer.Argument(help="A name for the token (who uses it).")]) -> None:
    """Create a token and print it once: only its hash is kept."""
    from rich.markup import escape

    from ..archive import Archive
    from ..auth import create_token  # FastAPI is slow to import; only this command needs it

    with Archive(settings()) as archive:
        token = create_token(archive.index, name)
    typer.echo(token)
    stderr().print(f"token {escape(repr(name))} created; it is shown only this once. Send it as "
              "'Authorization: Bearer <token>'. From now on API writes need a token.")


def token_list(json_out: JsonOpt = False) -> None:
    """Token names, when they were created and revoked (never the tokens)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from ..archive import Archive
    from ..auth import list_tokens

    with Archive(settings()) as archive:
        rows = list_tokens(archive.index)
    if json_out:
        print_json({"tokens": rows})
        return
    table = Table()
    for col in ("name", "created", "revoked"):
        table.add_column(col)
    for r in rows:
        table.add_row(escape(r["name"]), r["created_at"], r["revoked_at"] or "-")
    Console().print(table)


def token_revoke(name: Annotated[str, typer.Argument(help="The token's name.")]) -> None:
    """Revoke a token."""
    from rich.markup import escape

    from ..archive import Archive
    from ..auth import revoke_token

    with Archive(settings()) as archive:
        left = revoke_token(archive.index, name)
    stderr().print(f"token {escape(repr(name))} revoked")
    if left == 0:
        stderr().print("[yellow]no active token is left: API writes are open to anyone again[/]")


# -- schedules -------------------------------------------------------------------------------------
def schedule_list(json_out: JsonOpt = False) -> None:
    """Every schedule: job id, source, what it does, how often, next run."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from ..archive import Archive
    from ..scheduler import open_schedules

    with Archive(settings()) as archive, open_schedules(archive) as sched:
        jobs = sched.jobs()
    if json_out:
        print_json({"schedules": jobs})
        return
    table = Table()
    for col in ("job", "source", "kind", "schedule", "next run", "url"):
        table.add_column(col, overflow="fold")
    for j in jobs:
        table.add_row(j["id"], str(j["source_id"]), j["kind"], j["schedule"],
                      j["next_run"] or "paused", escape(j["url"] or "-"))
    Console().print(table)


Target = Annotated[str, typer.Argument(help="A job id (see `schedule list`) or a source id (all its jobs).")]


def _edit_schedules(target: str, action: str) -> None:
    from rich.markup import escape

    from ..archive import Archive
    from ..scheduler import open_schedules

    with Archive(settings()) as archive, open_schedules(archive) as sched:
        ids = getattr(sched, f"{action}_jobs")(target)
    stderr().print(f"{action}d {escape(', '.join(ids))}")  # paused, resumed, removed


def schedule_pause(target: Target) -> None:
    """Pause schedules (they keep their settings; resume restarts them)."""
    _edit_schedules(target, "pause")


def schedule_resume(target: Target) -> None:
    """Resume paused schedules."""
    _edit_schedules(target, "resume")


def schedule_remove(target: Target) -> None:
    """Remove schedules."""
    _edit_schedules(target, "remove")
