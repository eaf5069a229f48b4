"""Opening the index database: engine, sessions, automatic migrations on first use."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from .errors import StorageError
from .migrations import HEAD

VERSION_TABLE = "citevault_alembic_version"

__all__ = ["Index", "open_index", "prepare_engine"]

_MIGRATIONS = Path(__file__).with_name("migrations")
_migrate_lock = threading.Lock()
# Engines made ready for the processes this one forks (`prepare_engine`), by URL.
_prepared: dict[str, Engine] = {}


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets the API read while a capture worker writes; busy_timeout queues writers.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _alembic_config() -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


class Index:
    """The SQL index: an engine plus a session factory."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success, rolled back on error."""
        with self._sessions() as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for lookups that write nothing (the web's /cdx, Memento and replay routes).
        On PostgreSQL it runs in autocommit: a session's transaction wraps each request's
        statements in BEGIN and COMMIT, two more round trips to the server's process (4 where a
        /cdx lookup needs 2, counted with strace), each a wait for a core on a busy machine. With
        no transaction, a lookup must not hold a server-side cursor: cdxsql reads long answers in
        keyset batches. SQLite's driver opens no transaction for a SELECT: a plain session."""
        if self.engine.dialect.name == "sqlite":
            with self._sessions() as s:
                yield s
            return
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn, \
                Session(bind=conn, expire_on_commit=False) as s:
            yield s

    def current_revision(self) -> str | None:
        """The schema revision the database is at, or None for a new database."""
        try:
            with self.engine.connect() as conn:
                return conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
        except DBAPIError:
            return None

    def migrate(self) -> None:
        """Bring the schema to the newest revision (idempotent)."""
        if self.current_revision() == HEAD:
            return
        from alembic import command  # imported only when there is migrating to do

        cfg = _alembic_config()
        with _migrate_lock, self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def dispose(self) -> None:
        self.engine.dispose()


def _first_line(exc: BaseException) -> str:
    """Driver errors run over several lines (and SQLAlchemy adds a link): errors here are one line."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def prepare_engine(url: str, rehearse: Callable[[Index], None] | None = None) -> None:
    """Make the engine of a job's children (`open_index(url, pre_ping=False)`) in this process,
    for the processes it forks later (the crawl fork server's children): connected once, so
    that its dialect is initialised (on PostgreSQL four queries: version, schema, isolation
    level, string quoting), then emptied, so that no connection is shared. A child forked
    afterwards opens that engine, not one of its own: no engine to build, no dialect to
    initialise, a connection of its own at its first query. Each crawl child and page indexer
    paid both (benchmarks/history/2026-12-07-p-job7-night.md).

    `rehearse` runs the children's read-only queries once on it, before it is emptied: they
    are compiled into the engine's cache, and SQLAlchemy's first-query set-up is done, once
    for every child forked afterwards (a page indexer's first query: 21 ms of CPU in a fork,
    10 ms rehearsed). SQLite's engine costs little and is left alone; a database that cannot be
    reached now is left to the children, as is a rehearsal that fails."""
    if url.startswith("sqlite") or url in _prepared:
        return
    try:
        engine = create_engine(url, pool_pre_ping=False)
        with engine.connect():
            pass
    except Exception:
        return
    if rehearse is not None:
        with contextlib.suppress(Exception):
            rehearse(Index(engine))
    engine.dispose()  # closes the connection(s); the pool starts empty in every fork
    _prepared[url] = engine


def open_index(url: str, *, migrate: bool = True, pre_ping: bool = True) -> Index:
    """Open (and by default migrate) the index at a SQLAlchemy URL.

    `pre_ping` (PostgreSQL): test each pooled connection with a round trip to the server when it
    is checked out, and replace it when the server has dropped it (a restart, an idle timeout).
    Long-lived pools need it (the web server's, a worker's, whose connections wait between jobs).
    A job's children (crawl, page indexer) pass False: their engine lives for one job, its
    connections are new and busy, and the ping was about 20 round trips a job, each a wake-up
    of the client and of the server's process (benchmarks/history/2026-12-07-p-job7-night.md);
    a connection lost in the middle of a job fails the job either way (its transaction with it)."""
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(f"cannot create the index directory: {exc}") from exc
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs["pool_pre_ping"] = pre_ping
    try:
        engine = _prepared.get(url) if not pre_ping else None
        engine = engine or create_engine(url, **kwargs)
    except Exception as exc:
        raise StorageError(f"bad database URL {url!r}: {_first_line(exc)}") from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    index = Index(engine)
    if migrate:
        try:
            index.migrate()
        except Exception as exc:
            raise StorageError(f"cannot open the index at {engine.url!r}: {_first_line(exc)}") from exc
    return index
