"""The `citevault` command line: `get_app()` builds the Typer app from one sub-app per task.

Modules: capture (add, decorate), query (list, show, history, get), search (search), admin
(verify, reindex), cite (cite, export), evidence (key show, stamp), linkrot (check, report),
service (serve, worker, token, schedule); base holds what they share (the root command that maps
errors to exit codes, --json, output, settings); docs renders the reference (docs/cli.md) from the
commands themselves.

Only the standard library is imported here, so that Ctrl-C while the rest loads is caught too.
"""

from __future__ import annotations

import gc
import importlib
import logging
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer

__all__ = ["COMMAND_MODULES", "get_app", "main"]

# The task module of each top-level command, so that one run imports only its own task's
# module (and what that imports): importing all of them costs more CPU than Scrapy's whole
# start-up (benchmarks/startup.py). tests/cli/test_lazy.py keeps this in step with the modules.
COMMAND_MODULES = {
    "add": "capture", "decorate": "capture",
    "list": "query", "show": "query", "history": "query", "get": "query",
    "search": "search",
    "verify": "admin", "reindex": "admin",
    "cite": "cite", "export": "cite",
    "key": "evidence", "stamp": "evidence",
    "check": "linkrot", "report": "linkrot",
    "serve": "service", "worker": "service", "token": "service", "schedule": "service",
}
_MODULES = ("capture", "query", "search", "admin", "cite", "evidence", "linkrot", "service")

# What a command imports as it starts, beyond its task module (which imports only Typer, for
# --help's sake: cli/base.py): the settings (pydantic) and the Archive (SQLAlchemy, the models).
# `main` imports them before it runs a command, as it does the task module, with the collector
# off: imported inside the command instead, with collections running, they cost `list --json` 4%
# more instructions (benchmarks/history/2026-12-07-p-start7-night.md).
_RUNS_WITH = ("citevault.config", "citevault.archive")
# and what a command draws its tables and messages with, unless it prints --json
_DRAWS_WITH = ("rich.console", "rich.table")


def get_app(only: str | None = None) -> typer.Typer:
    """The whole command line: the root app with each task's sub-app merged into it; with
    `only`, just that task module's commands."""
    import typer

    from .base import Root

    app = typer.Typer(
        name="citevault",
        help="Keep cited web sources alive: capture, index, re-check and replay them.",
        cls=Root,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    for name in (only,) if only else _MODULES:
        app.add_typer(importlib.import_module(f"{__name__}.{name}").commands())
    return app


def _not_an_interruption(record: logging.LogRecord) -> bool:
    """A Ctrl-C that lands inside a library's cleanup (SQLAlchemy closing a pooled connection)
    is logged there with its traceback before it reaches us; we report it once, in one line."""
    return not (record.exc_info and record.exc_info[0] is KeyboardInterrupt)


def _start_imports(module: str, args: list[str]) -> tuple[str, ...]:
    """What a command of the task module `module`, given `args`, imports as it starts."""
    options = args[: args.index("--")] if "--" in args else args
    if "--help" in options:
        return ()
    runs_with = getattr(sys.modules[f"{__name__}.{module}"], "RUNS_WITH", ())
    return (*_RUNS_WITH, *runs_with, *(() if "--json" in options else _DRAWS_WITH))


def main() -> None:
    """The console script: build the app and run it. Errors become exit codes in `base.Root`;
    Ctrl-C at any moment, even while the modules load, exits 130 without a traceback.
    A known command builds only its task's commands; anything else (no command, --help, a typo)
    the whole app, so help and usage errors list every command."""
    if logging.lastResort is not None:  # what logs to stderr when nothing is configured
        logging.lastResort.addFilter(_not_an_interruption)
    try:
        first = sys.argv[1] if len(sys.argv) > 1 else ""
        # Importing the command's modules makes some 140,000 objects and no garbage: the
        # collections they would trigger are a sixth of the import CPU
        # (benchmarks/history/2026-12-07-and-before.md, p-perf3, start-up (a)). Afterwards
        # the imported objects are left out of every later collection (and so stay shared with
        # the crawl's fork server, forked from this process).
        gc.disable()
        try:
            module = COMMAND_MODULES.get(first)
            app = get_app(module)
            if module is not None:
                for name in _start_imports(module, sys.argv[2:]):
                    importlib.import_module(name)
        finally:
            gc.freeze()
            gc.enable()
        app()
    except KeyboardInterrupt:
        sys.stderr.write("citevault: interrupted\n")
        raise SystemExit(130) from None
