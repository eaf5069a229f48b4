"""The `citevault` command line: `get_app()` builds the Typer app from one sub-app per task, and its
root command turns citevault errors into one-line messages and the contract's exit codes.

Modules: capture (add, decorate), query (list, show, history, get), admin (verify, reindex), cite
(cite, export), linkrot (check, report), service (serve, worker, token, schedule); docs renders the
reference (docs/cli.md) from the commands themselves.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from typer.core import TyperGroup

from citevault.storage.errors import BadInput, CaptureFailed, CitevaultError

from ..config import Settings, load_settings

__all__ = ["JsonOpt", "fail", "get_app", "main", "print_json", "settings", "stderr"]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]

# Errors of these libraries come from a database or Redis server that is down or refuses us.
_SERVER_LIBS = {"redis": "Redis server (CITEVAULT_REDIS_URL)",
                "sqlalchemy": "index database (CITEVAULT_DATABASE_URL)",
                "psycopg": "index database (CITEVAULT_DATABASE_URL)"}


def stderr() -> Console:
    """The console for progress and messages: standard error, so --json output stays clean."""
    return Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr, then exit."""
    typer.echo(f"citevault: error: {message}", err=True)
    raise typer.Exit(code)


def settings() -> Settings:
    """The settings, with a bad one reported as bad input (exit 2)."""
    try:
        return load_settings()
    except Exception as exc:
        raise BadInput(f"bad settings: {' '.join(str(exc).split())}") from exc


def print_json(doc: Any) -> None:
    typer.echo(json.dumps(doc, indent=2, sort_keys=False))


class _Root(TyperGroup):
    """The root command: the one place where errors become exit codes, for every subcommand."""

    def invoke(self, ctx: Any) -> Any:  # Any: typer bundles its own copy of click's Context
        try:
            return super().invoke(ctx)
        except CaptureFailed as exc:
            fail(str(exc), 1)
        except CitevaultError as exc:
            fail(str(exc), 2)
        except Exception as exc:
            lib = type(exc).__module__.split(".")[0]
            if lib not in _SERVER_LIBS:
                raise
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            fail(f"cannot use the {_SERVER_LIBS[lib]}: {first}", 2)


def get_app() -> typer.Typer:
    """The whole command line: the root app with each task's sub-app merged into it."""
    from . import admin, capture, cite, linkrot, query, service

    app = typer.Typer(
        name="citevault",
        help="Keep cited web sources alive: capture, index, re-check and replay them.",
        cls=_Root,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    for module in (capture, query, admin, cite, linkrot, service):
        app.add_typer(module.commands())
    return app


def main() -> None:
    """The console script: build the app and run it (errors map to exit codes in `_Root`)."""
    get_app()()
