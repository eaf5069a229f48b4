"""The `citevault` command line: `get_app()` builds the Typer app from one sub-app per task.

Modules: capture (add, decorate), query (list, show, history, get), admin (verify, reindex), cite
(cite, export), linkrot (check, report), service (serve, worker, token, schedule); base holds what
they share (the root command that maps errors to exit codes, --json, output, settings); docs
renders the reference (docs/cli.md) from the commands themselves.

Only the standard library is imported here, so that Ctrl-C while the rest loads is caught too.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer

__all__ = ["get_app", "main"]


def get_app() -> typer.Typer:
    """The whole command line: the root app with each task's sub-app merged into it."""
    import typer

    from . import admin, capture, cite, linkrot, query, service
    from .base import Root

    app = typer.Typer(
        name="citevault",
        help="Keep cited web sources alive: capture, index, re-check and replay them.",
        cls=Root,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    for module in (capture, query, admin, cite, linkrot, service):
        app.add_typer(module.commands())
    return app


def main() -> None:
    """The console script: build the app and run it. Errors become exit codes in `base.Root`;
    Ctrl-C at any moment, even while the modules load, exits 130 without a traceback."""
    try:
        get_app()()
    except KeyboardInterrupt:
        sys.stderr.write("citevault: interrupted\n")
        raise SystemExit(130) from None
