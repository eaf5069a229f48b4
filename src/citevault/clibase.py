"""Shared pieces of the command line: the Typer app, error handling, settings, JSON output."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from citevault.storage.errors import BadInput, CaptureFailed, CitevaultError

from .config import Settings, load_settings

__all__ = ["JsonOpt", "app", "cli_errors", "err", "fail", "print_json", "settings"]

app = typer.Typer(
    name="citevault",
    help="Keep cited web sources alive: capture, index, re-check and replay them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def fail(message: str, code: int = 2) -> None:
    """One line on stderr, then exit."""
    typer.echo(f"citevault: error: {message}", err=True)
    raise typer.Exit(code)


_SERVER_LIBS = {"redis": "Redis server (CITEVAULT_REDIS_URL)",
                "sqlalchemy": "index database (CITEVAULT_DATABASE_URL)",
                "psycopg": "index database (CITEVAULT_DATABASE_URL)"}

_BUSY = ("database is locked", "deadlock detected", "could not serialize", "lock timeout")


def cli_errors(fn: F) -> F:
    """Turn citevault errors into one-line messages and the contract's exit codes."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CaptureFailed as exc:
            fail(str(exc), 1)
        except CitevaultError as exc:
            fail(str(exc), 2)
        except Exception as exc:
            # A database or Redis server that is down or refuses us: say so in one line.
            lib = type(exc).__module__.split(".")[0]
            if lib not in _SERVER_LIBS:
                raise
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            # A server that was reached but failed the work (busy, deadlocked) is not bad input.
            busy = any(m in first.lower() for m in _BUSY)
            fail(f"{'the work failed in' if busy else 'cannot use'} the {_SERVER_LIBS[lib]}: {first}",
                 1 if busy else 2)
        return None

    return wrapper  # type: ignore[return-value]


def settings() -> Settings:
    try:
        return load_settings()
    except Exception as exc:
        raise BadInput(f"bad settings: {' '.join(str(exc).split())}") from exc


def print_json(doc: Any) -> None:
    typer.echo(json.dumps(doc, indent=2, sort_keys=False))
