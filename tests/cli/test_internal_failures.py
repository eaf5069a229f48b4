"""An internal failure (the index database busy past its timeout) is exit 1, never the bad-input
exit 2; a database that cannot be reached at all stays a usage problem (exit 2)."""

from __future__ import annotations

import sqlite3

import pytest
import typer
from sqlalchemy.exc import OperationalError

from citevault.clibase import cli_errors


def _raise(message: str) -> None:
    raise OperationalError("INSERT INTO links ...", {}, sqlite3.OperationalError(message))


@pytest.mark.parametrize(("message", "code"),
                         [("database is locked", 1), ("unable to open database file", 2)])
def test_exit_code_of_database_failures(message: str, code: int, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as exit_:
        cli_errors(_raise)(message)
    assert exit_.value.exit_code == code
    err = capsys.readouterr().err
    assert err.startswith("citevault: error:") and message in err and len(err.splitlines()) == 1
