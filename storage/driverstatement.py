"""Statements of the per-record path (the revisit lookup, the capture row's INSERT, a page's link
rows), compiled by SQLAlchemy once per dialect and column set, then run on the driver's own cursor.

Why not `Connection.execute`: its per-statement bookkeeping (binding parameters through the
compiled object, the execution context, the result object) cost 115-124 us a statement in the
crawl process, where sqlite3 ran the same SELECT on the same connection in 16 us (thread CPU
over a 500-page crawl, 1,084 records; benchmarks/history/2026-12-07-p-cpu6-eve.md). Two of them
per archived record were 7% of the crawl process's CPU.

What SQLAlchemy does is kept: its compiler writes the SQL and names the parameters (qmark for
SQLite, pyformat for psycopg), the statement runs on the Session's connection (so in its
transaction), and driver errors come out wrapped as SQLAlchemy's (OperationalError: "database is
locked" stays what `storage.errors.is_busy` recognises). A statement whose types need converting
on the way in or out is run by SQLAlchemy itself: no converter is ever skipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.sql import ClauseElement, Executable

__all__ = ["DriverStatement"]


class _Compiled:
    """One statement compiled for one dialect and one set of given columns."""

    def __init__(self, stmt: ClauseElement, dialect: Dialect, keys: tuple[str, ...]) -> None:
        # Held, not only named by its id in DriverStatement's key: while this lives no other
        # dialect (another engine's, SQLite's where this was PostgreSQL's) can take that id.
        self.dialect = dialect
        compiled: Any = stmt.compile(dialect=dialect, column_keys=list(keys))
        self.sql = str(compiled)
        self.defaults: dict[str, Any] = dict(compiled.params)  # literals bound by the statement
        self.order: list[str] | None = compiled.positiontup  # None: parameters go by name
        # Converters on either side (dates on SQLite, JSON, ...): SQLAlchemy runs the statement.
        ins = [b.type for b in compiled.binds.values()]
        outs = [c.type for c in getattr(stmt, "exported_columns", ())]  # selected or returned
        self.plain = not any(t.dialect_impl(dialect).bind_processor(dialect) for t in ins) and not any(
            t.dialect_impl(dialect).result_processor(dialect, None) for t in outs
        )

    def args(self, params: Mapping[str, Any]) -> Any:
        """The driver's parameters: a tuple in the statement's order, or a dict by name."""
        values = {**self.defaults, **params}
        return tuple(values[k] for k in self.order) if self.order is not None else values


class DriverStatement:
    """A Core statement run on the driver's cursor; `first` returns its first row as a tuple."""

    def __init__(self, stmt: Executable) -> None:
        self.stmt = stmt
        self._compiled: dict[tuple[int, tuple[str, ...]], _Compiled] = {}

    def _for(self, conn: Connection, keys: tuple[str, ...]) -> _Compiled:
        key = (id(conn.dialect), keys)
        found = self._compiled.get(key)
        if found is None:
            assert isinstance(self.stmt, ClauseElement)
            found = self._compiled[key] = _Compiled(self.stmt, conn.dialect, keys)
        return found

    def first(self, conn: Connection, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        compiled = self._for(conn, tuple(params))
        if not compiled.plain:
            row = conn.execute(self.stmt, dict(params)).first()
            return tuple(row) if row is not None else None
        args = compiled.args(params)
        cursor = conn.connection.cursor()
        try:
            cursor.execute(compiled.sql, args)
            found = cursor.fetchone() if cursor.description else None
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(conn, compiled.sql, args, exc) from exc
        finally:
            cursor.close()
        return tuple(found) if found is not None else None

    def run_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run the statement once per row (the driver's executemany); the rows share their keys."""
        if not rows:
            return
        compiled = self._for(conn, tuple(rows[0]))
        if not compiled.plain:
            conn.execute(self.stmt, [dict(r) for r in rows])
            return
        args = [compiled.args(r) for r in rows]
        cursor = conn.connection.cursor()
        try:
            cursor.executemany(compiled.sql, args)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(conn, compiled.sql, args, exc) from exc
        finally:
            cursor.close()


def _wrapped(conn: Connection, sql: str, args: Any, exc: Exception) -> StatementError:
    """A driver error as SQLAlchemy raises it (OperationalError, IntegrityError, ...)."""
    return DBAPIError.instance(sql, args, exc, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect)
