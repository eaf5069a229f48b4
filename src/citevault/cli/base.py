"""What the command modules share: the root command, which turns citevault errors into one-line
messages and the contract's exit codes, the --json option, output helpers and settings.

Every task module is imported for `citevault --help` and for a typo, and `main` imports this one
with it: it and the task modules import only Typer and the standard library at their top, and
each command imports what it runs (SQLAlchemy, pydantic, the Archive, Rich) in its body. With
them at the top, `--help` cost 2.56 G instructions, more than Scrapy's whole one-page run
(benchmarks/history/2026-12-07-p-start7-night.md); tests/cli/test_lazy.py keeps it so.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from citevault.storage.errors import MAX_ROW_ID, BadInput, CaptureFailed, CitevaultError, is_busy

if TYPE_CHECKING:
    from rich.console import Console

    from ..config import Settings

__all__ = ["JsonOpt", "OptionalSource", "Root", "SourceArg", "fail", "print_json", "settings", "stderr"]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
SourceArg = Annotated[int, typer.Argument(help="A source id (see `list`).", min=0, max=MAX_ROW_ID)]
OptionalSource = Annotated[
    int | None, typer.Argument(help="A source id (see `list`); default every source.", min=0, max=MAX_ROW_ID)
]

# Errors of these libraries come from a database or Redis server that is down or refuses us.
_SERVER_LIBS = {"redis": "Redis server (CITEVAULT_REDIS_URL)",
                "sqlalchemy": "index database (CITEVAULT_DATABASE_URL)",
                "psycopg": "index database (CITEVAULT_DATABASE_URL)"}


def stderr() -> Console:
    """The console for progress and messages: standard error, so --json output stays clean."""
    # Rich (50 modules, a tenth of a second of start-up CPU) is imported by the commands that
    # draw with it, when they do: a one-page `add --json` off a terminal never does.
    from rich.console import Console

    return Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr, then exit."""
    typer.echo(f"citevault: error: {message}", err=True)
    raise typer.Exit(code)


def settings() -> Settings:
    """The settings, with a bad one reported as bad input (exit 2) in one line."""
    from pydantic import ValidationError

    from ..config import load_settings

    try:
        return load_settings()
    except ValidationError as exc:
        raise BadInput("; ".join(_setting_error(e) for e in exc.errors())) from exc
    except Exception as exc:
        raise BadInput(f"bad settings: {' '.join(str(exc).split())}") from exc


def _setting_error(error: Any) -> str:
    """`bad setting CITEVAULT_TIMEOUT: Input should be a valid number (got 'abc')`: pydantic's
    message without its type codes and documentation links."""
    name = str(error["loc"][0]) if error.get("loc") else ""
    where = f"CITEVAULT_{name.upper()}" if name else "settings"
    got = error.get("input")
    shown = f" (got {got!r})" if isinstance(got, str | int | float) and name else ""
    return f"bad setting {where}: {error['msg']}{shown}"


def print_json(doc: Any) -> None:
    """`doc` as indented JSON. A list given as an iterator is written item by item, never whole:
    `add --json` of a 100,000-URL crawl held every capture twice (rows, then one string)."""
    if not _streams(doc):
        typer.echo(json.dumps(doc, indent=2, sort_keys=False))
        return
    write = sys.stdout.write
    _write_json(doc, 0, write)
    write("\n")
    sys.stdout.flush()


def _streams(value: Any) -> bool:
    if isinstance(value, Iterator):
        return True
    if isinstance(value, dict):
        return any(_streams(v) for v in value.values())
    if isinstance(value, list):
        return any(_streams(v) for v in value)
    return False


def _write_json(value: Any, level: int, write: Callable[[str], Any]) -> None:
    """What `json.dumps(value, indent=2)` would give, written piece by piece."""
    pad = "  " * (level + 1)
    if isinstance(value, dict) and value and _streams(value):
        write("{")
        for i, (key, item) in enumerate(value.items()):
            write(("\n" if i == 0 else ",\n") + pad + json.dumps(str(key)) + ": ")
            _write_json(item, level + 1, write)
        write("\n" + "  " * level + "}")
    elif isinstance(value, Iterator) or (isinstance(value, list) and _streams(value)):
        empty = True
        for item in value:
            write(("[\n" if empty else ",\n") + pad)
            _write_json(item, level + 1, write)
            empty = False
        write("[]" if empty else "\n" + "  " * level + "]")
    else:
        write(json.dumps(value, indent=2).replace("\n", "\n" + "  " * level))


class Root(TyperGroup):
    """The root command: the one place where errors become exit codes, for every subcommand."""

    def invoke(self, ctx: Any) -> Any:  # Any: typer bundles its own copy of click's Context
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except CaptureFailed as exc:
            fail(str(exc), 1)
        except CitevaultError as exc:
            fail(str(exc), 2)
        except Exception as exc:
            lib = type(exc).__module__.split(".")[0]
            if lib not in _SERVER_LIBS:
                raise
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            # A server that was reached but failed the work (busy, deadlocked) is not bad input.
            busy = is_busy(exc)
            fail(f"{'the work failed in' if busy else 'cannot use'} the {_SERVER_LIBS[lib]}: {first}",
                 1 if busy else 2)
