"""Opening the index (storage/db.py): the pool's pre-ping, kept where a pool lives long and left out
of a job's own engines, whose connections are new."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from citevault.storage import db
from citevault.storage.db import open_index, prepare_engine
from tests.conftest import PG_ADMIN_URL
from tests.fakeweb import FakeWeb


def _pings(index: object) -> list[int]:
    """Count the pool's pings of this index's engine (its dialect's do_ping, called at checkout)."""
    dialect = index.engine.dialect  # type: ignore[attr-defined]
    calls: list[int] = []
    real = dialect.do_ping

    def counted(conn: object) -> bool:
        calls.append(1)
        return bool(real(conn))

    dialect.do_ping = counted
    return calls


def test_a_long_lived_pool_replaces_a_connection_the_server_dropped(pg_url: str) -> None:
    """The web server's and a worker's pools keep the ping: a connection the server ended while
    it sat in the pool (a restart, an administrator) is replaced at checkout, not an error."""
    index = open_index(pg_url)
    try:
        with index.session() as s:
            first = s.scalar(text("SELECT pg_backend_pid()"))
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                assert conn.scalar(text("SELECT pg_terminate_backend(:p)"), {"p": first})
        finally:
            admin.dispose()
        with index.session() as s:
            second = s.scalar(text("SELECT pg_backend_pid()"))
        assert second != first
    finally:
        index.dispose()


def test_a_jobs_engine_does_not_ping_its_connections(pg_url: str) -> None:
    pinging = open_index(pg_url)
    quiet = open_index(pg_url, migrate=False, pre_ping=False)
    try:
        pinged, not_pinged = _pings(pinging), _pings(quiet)
        for index in (pinging, quiet):
            for _ in range(3):
                with index.session() as s:
                    assert s.scalar(text("SELECT 1")) == 1
        assert len(pinged) >= 2 and not_pinged == []
    finally:
        pinging.dispose()
        quiet.dispose()


def test_a_prepared_engine_holds_no_connection_and_opens_the_jobs_indexes(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "_prepared", {})
    prepare_engine(pg_url)
    engine = db._prepared[pg_url]
    assert engine.pool.checkedin() == 0 and engine.dialect.server_version_info  # initialised
    job = open_index(pg_url, migrate=False, pre_ping=False)
    try:
        assert job.engine is engine
        with job.session() as s:
            assert s.scalar(text("SELECT 1")) == 1
    finally:
        job.dispose()
    long_lived = open_index(pg_url)
    try:
        assert long_lived.engine is not engine and long_lived.engine.pool._pre_ping
    finally:
        long_lived.dispose()


def test_the_rehearsal_leaves_the_childrens_reads_compiled(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fork server rehearses its children's reads on their engine: a crawl child or page
    indexer forked afterwards finds its revisit lookup, its gets and both forms of the page
    indexer's query compiled (11 ms of a crawl child's CPU and 9 of an indexer's without)."""
    from citevault.crawler.pageindex import _pending
    from citevault.crawler.rehearsal import rehearse
    from citevault.storage import driverstatement
    from citevault.storage.index import revisit_original
    from citevault.storage.models import Snapshot, Source

    open_index(pg_url).dispose()  # migrated
    monkeypatch.setattr(db, "_prepared", {})
    prepare_engine(pg_url, rehearse)
    compiled: list[object] = []
    real = driverstatement._Compiled

    def counted(*args: object) -> object:
        compiled.append(args)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(driverstatement, "_Compiled", counted)
    job = open_index(pg_url, migrate=False, pre_ping=False)
    try:
        cache = job.engine._compiled_cache
        assert cache is not None and len(cache) >= 4
        before = len(cache)
        with job.session() as s:
            assert revisit_original(s, "https://a.test/", "sha1:X", "test,a)/") is None
            assert s.get(Snapshot, 1) is None and s.get(Source, 1) is None
        assert _pending(job, [1, 2], 0, 32) == []
        assert _pending(job, [1, 2], 0, 32, skip=[3, 4]) == []
        assert len(cache) == before and compiled == []  # nothing new to compile
    finally:
        job.dispose()


def test_preparing_an_unreachable_or_sqlite_database_leaves_it_to_the_children(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "_prepared", {})
    prepare_engine("postgresql+psycopg://postgres@127.0.0.1:1/nothing")
    prepare_engine(f"sqlite:///{tmp_path / 'index.db'}")
    assert db._prepared == {}


# Runs `citevault add` with every ping, new connection and dialect initialisation written to a
# file, by pid: the fork server is forked from this process, so it, the crawl child and its page
# indexer log too.
_SPY = """
import os, sys
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.pool.base import _ConnectionRecord
LOG = os.environ["PING_LOG"]
def log(what):
    with open(LOG, "a") as f:
        f.write(f"{os.getpid()} {what}\\n")
real_ping, real_connect = DefaultDialect.do_ping, _ConnectionRecord._ConnectionRecord__connect
real_init = DefaultDialect.initialize
def initialize(self, conn):
    log("initialize")
    return real_init(self, conn)
DefaultDialect.initialize = initialize
def do_ping(self, conn):
    log("ping")
    return real_ping(self, conn)
def connect(self):
    log("connect-pinging" if self._ConnectionRecord__pool._pre_ping else "connect")
    return real_connect(self)
DefaultDialect.do_ping = do_ping
_ConnectionRecord._ConnectionRecord__connect = connect
log("main")
from citevault.cli import main
sys.argv = ["citevault", "add", sys.argv[1], "--depth", "1"]
main()
"""


def test_the_crawl_child_and_its_page_indexer_neither_ping_nor_initialise(
    pg_url: str, web: FakeWeb, tmp_path: Path
) -> None:
    """About 20 pings a job (a crawl's recorder commits and its indexer's passes, each a
    checkout) were round trips to the server for nothing: the children's engines live for one
    job and their connections are new; and each child built its engine and initialised its
    dialect (benchmarks/history/2026-12-07-p-job7-night.md)."""
    web.add("https://news.test/a", '<html><body><article><p>Text.</p>'
            '<a href="https://cited.test/1">one</a><a href="https://cited.test/2">two</a>'
            '</article></body></html>')
    for n in (1, 2):
        web.add(f"https://cited.test/{n}", f"<html><body><p>Cited page {n}.</p></body></html>")
    log = tmp_path / "pings.log"
    env = os.environ | {"CITEVAULT_DATABASE_URL": pg_url, "PING_LOG": str(log)}
    done = subprocess.run([sys.executable, "-c", _SPY, "https://news.test/a"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    events: dict[int, list[str]] = {}
    for line in log.read_text().splitlines():
        pid, what = line.split()
        events.setdefault(int(pid), []).append(what)
    others = {pid: what for pid, what in events.items() if "main" not in what}
    [main] = [what for what in events.values() if "main" in what]
    # The fork server (forked from the command, so it logs too) made the children's engine ready:
    # it alone initialised a dialect, once; the crawl child and its page indexer connected
    # through that engine without initialising it again.
    servers = [what for what in others.values() if "initialize" in what]
    children = [what for what in others.values() if "initialize" not in what]
    assert len(servers) == 1 and servers[0].count("initialize") == 1, events
    assert len(children) >= 2 and all(what[0] == "connect" for what in children), events
    # Through pools that do not ping (a crawl this small may check no connection out twice, so
    # that a pinging pool would not have pinged yet), and they never pinged; the command pings.
    assert all("ping" not in what and "connect-pinging" not in what for what in others.values()), events
    assert "connect-pinging" in main, events
