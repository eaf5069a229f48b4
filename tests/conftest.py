"""Shared fixtures: a home directory per test, SQLite and real PostgreSQL index URLs, Redis."""

from __future__ import annotations

import os
import signal
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.fakeweb import FakeWeb, NewsSite, build_news_site

PG_ADMIN_URL = os.environ.get("CITEVAULT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("CITEVAULT_TEST_REDIS", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# A test run started in the background by a script (`make test &`, nohup) ignores SIGINT, and
# every CLI process the tests start would inherit that: the Ctrl-C tests' SIGINT would be lost
# and the capture would run on (seen: a 180 s hang). Exec resets a handler, never an ignore.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def need_server(name: str, host: str, port: int) -> None:
    """Skip (with the reason) when a server is missing; under CI, fail instead."""
    if _reachable(host, port):
        return
    msg = f"{name} is not reachable at {host}:{port}"
    if IN_CI:
        pytest.fail(f"{msg} (CI=true: database and queue tests must run)")
    pytest.skip(msg)


def isolate_env(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """CITEVAULT_HOME at `home`, and no proxy or database from the outer shell."""
    for var in list(os.environ):
        if var.startswith("CITEVAULT_") or var.lower() in ("http_proxy", "https_proxy", "no_proxy"):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CITEVAULT_HOME", str(home))
    # HTTP-path tests stay off Chromium (fast, and independent of it); browser tests set auto.
    monkeypatch.setenv("CITEVAULT_BROWSER", "never")


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own CITEVAULT_HOME and no proxy or database from the outer shell."""
    isolate_env(monkeypatch, tmp_path / "home")
    yield


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@contextmanager
def pg_database(template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database of a unique name (empty, or a copy of the database at URL
    `template`, which must have no connection open), dropped afterwards; yields its URL."""
    need_server("PostgreSQL", "127.0.0.1", 5432)
    from sqlalchemy import create_engine, text

    name = f"citevault_test_{uuid.uuid4().hex[:12]}"
    source = template.rsplit("/", 1)[1] if template else None
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if source is None:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        else:
            # A pool the template's writer left in this process would block the copy.
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
                         {"d": source})
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{source}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    with pg_database() as url:
        yield url


def index_at(db_url: str, revision: str) -> Any:
    """The index at `db_url` migrated to `revision` only (an older version's schema), to test
    what a migration does to an existing database."""
    from alembic import command

    from citevault.storage.db import _alembic_config, open_index

    index = open_index(db_url, migrate=False)
    cfg = _alembic_config()
    with index.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return index


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The index URL, once for the embedded default (SQLite) and once for PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'index.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def redis_url() -> str:
    need_server("Redis", "127.0.0.1", 6379)
    return REDIS_URL


@pytest.fixture(scope="session")
def fakeweb() -> Iterator[FakeWeb]:
    """One fake web for the session; tests that change routes heavily start their own."""
    with FakeWeb() as fw:
        yield fw


def route_through(fw: FakeWeb, monkeypatch: pytest.MonkeyPatch) -> None:
    """Send this test's fetches (and those of its crawl child processes) through the fake web,
    which lives on loopback: private networks are switched on."""
    for k, v in fw.proxy_env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("CITEVAULT_ALLOW_PRIVATE_NETWORKS", "1")


@pytest.fixture
def web(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeWeb]:
    """A fake web of this test's own (routes it adds go away with it), with fetches routed to it."""
    with FakeWeb() as fw:
        route_through(fw, monkeypatch)
        yield fw


@pytest.fixture
def news(fakeweb: FakeWeb, monkeypatch: pytest.MonkeyPatch) -> NewsSite:
    """The fake news site, freshly registered, with the proxy and private networks switched on."""
    site = build_news_site(fakeweb)  # re-registering restores routes an earlier test replaced
    fakeweb.clear_requests()
    route_through(fakeweb, monkeypatch)
    return site
