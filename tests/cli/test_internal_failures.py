"""An internal failure (the index database busy past its timeout) is exit 1, never the bad-input
exit 2; a database that cannot be opened at all stays a usage problem (exit 2)."""

from __future__ import annotations

import sqlite3

import pytest
import typer
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from citevault.cli.base import Root as _Root


def _app(message: str) -> typer.Typer:
    app = typer.Typer(cls=_Root)

    @app.command()
    def work() -> None:
        raise OperationalError("INSERT INTO links ...", {}, sqlite3.OperationalError(message))

    @app.command()
    def other() -> None:  # a second command, so that `work` is a subcommand as in citevault
        pass

    return app


@pytest.mark.parametrize(("message", "code"),
                         [("database is locked", 1), ("unable to open database file", 2)])
def test_exit_code_of_database_failures(message: str, code: int) -> None:
    result = CliRunner().invoke(_app(message), ["work"])
    assert result.exit_code == code
    assert result.stderr.startswith("citevault: error:") and message in result.stderr
    assert len(result.stderr.splitlines()) == 1
