"""The capture work queue: atomic claims (SQLite and PostgreSQL), leases and recovery, the Redis
list, and workers running claimed captures (time limit, stop and requeue)."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner
from warcio.archiveiterator import ArchiveIterator

from citevault.archive import Archive
from citevault.cli import get_app
from citevault.config import Settings
from citevault.service import WorkerPool
from citevault.storage.models import Capture, Snapshot
from citevault.storage.warcreader import resolve_path
from citevault.workqueue import MAX_ATTEMPTS, RedisWorkQueue, WorkQueue, worker_id
from tests.app.test_service_e2e import _set_once_settled
from tests.fakeweb import FakeWeb


def _archive(home: Path, db_url: str, **kw: object) -> Archive:
    return Archive(Settings(home=home, database_url=db_url, allow_private_networks=True, **kw))


@pytest.fixture
def archive(home: Path, db_url: str) -> Iterator[Archive]:
    a = _archive(home, db_url)
    yield a
    a.close()


def _queue_urls(archive: Archive, n: int) -> list[int]:
    queued = archive.queue([f"https://example.com/page/{i}" for i in range(n)], depth=0, trigger="api")
    return [q.snapshot_id for q in queued]


def _naive_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def test_concurrent_claims_take_each_snapshot_exactly_once(archive: Archive) -> None:
    ids = _queue_urls(archive, 24)
    got: list[int] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        q = WorkQueue(archive.index, owner=f"test-host:{n}")
        while (job := q.claim_next()) is not None:
            with lock:
                got.append(job.snapshot_id)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(got) == ids  # every one claimed, none twice
    with archive.index.session() as s:
        rows = s.execute(select(Snapshot.state, Snapshot.claimed_by, Snapshot.heartbeat_at)).all()
    assert {r.state for r in rows} == {"running"}
    assert all(r.claimed_by and r.claimed_by.startswith("test-host:") and r.heartbeat_at for r in rows)
    assert WorkQueue(archive.index).depth() == 0


def test_claim_is_conditional_and_carries_the_source(archive: Archive) -> None:
    [sid] = _queue_urls(archive, 1)
    q = WorkQueue(archive.index)
    assert q.depth() == 1
    job = q.claim(sid)
    assert job is not None and job.url == "https://example.com/page/0" and job.depth == 0
    assert q.claim(sid) is None  # already running
    assert q.claim_next() is None
    assert q.take(timeout=0.3) is None


def test_release_requeues_until_max_attempts(archive: Archive) -> None:
    [sid] = _queue_urls(archive, 1)
    q = WorkQueue(archive.index)
    assert q.claim(sid) is not None
    assert q.release(sid, "interrupted") is True
    with archive.index.session() as s:
        snap = s.get(Snapshot, sid)
        assert snap is not None
        assert (snap.state, snap.claimed_by, snap.error) == ("queued", None, None)
        snap.attempts = MAX_ATTEMPTS
    assert q.claim(sid) is not None
    assert q.release(sid, "interrupted") is False
    with archive.index.session() as s:
        snap = s.get(Snapshot, sid)
        assert snap is not None and snap.state == "failed"
        assert f"gave up after {MAX_ATTEMPTS} attempts" in (snap.error or "")


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_recover_requeues_lost_work_only(archive: Archive) -> None:
    ids = _queue_urls(archive, 5)
    me = WorkQueue(archive.index, lease=60)
    host = socket.gethostname()
    now = _naive_now()
    owners = {
        ids[0]: (f"{host}:{_dead_pid()}", now),  # a dead process on this host
        ids[1]: ("elsewhere:1", now - timedelta(seconds=600)),  # silent past the lease
        ids[2]: ("elsewhere:2", now),  # alive elsewhere: leave it
        ids[3]: (me.owner, now),  # our id from an earlier incarnation (not held)
        ids[4]: (me.owner, now),  # our id, held: running here right now
    }
    with archive.index.session() as s:
        for sid, (owner, beat) in owners.items():
            s.execute(update(Snapshot).where(Snapshot.id == sid)
                      .values(state="running", claimed_by=owner, heartbeat_at=beat))
    me.hold([ids[4]])
    assert sorted(me.recover()) == [ids[0], ids[1], ids[3]]
    with archive.index.session() as s:
        states = dict(s.execute(select(Snapshot.id, Snapshot.state)).all())
    assert [states[i] for i in ids] == ["queued", "queued", "running", "queued", "running"]


def _wait_for(condition: Callable[[], object], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _beat_at(archive: Archive, sid: int) -> datetime | None:
    with archive.index.session() as s:
        return s.scalar(select(Snapshot.heartbeat_at).where(Snapshot.id == sid))


def _claimed_long_ago(archive: Archive, sid: int) -> tuple[WorkQueue, datetime]:
    q = WorkQueue(archive.index, lease=2)  # heartbeat every 0.5 s
    assert q.claim(sid) is not None
    old = _naive_now() - timedelta(hours=1)
    with archive.index.session() as s:
        s.execute(update(Snapshot).where(Snapshot.id == sid).values(heartbeat_at=old))
    return q, old


def test_keeper_renews_the_lease_and_reports_stop(archive: Archive) -> None:
    [sid] = _queue_urls(archive, 1)
    q, old = _claimed_long_ago(archive, sid)
    stop = threading.Event()
    with q.keeper([sid], stop) as keep:
        assert keep() is False
        _wait_for(lambda: (_beat_at(archive, sid) or old) > old + timedelta(minutes=59), "a beat")
        stop.set()
        assert keep() is True


def test_keeper_survives_a_busy_database_and_beats_again(
    archive: Archive, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A 100,000-URL crawl can keep SQLite's write lock busier than the busy timeout; the parent's
    heartbeat then fails with "database is locked". That beat is skipped (the lease has slack for
    three more), never the capture; any other database error still ends it."""
    [sid] = _queue_urls(archive, 1)
    q, old = _claimed_long_ago(archive, sid)
    real = q.heartbeat
    errors = [sqlite3.OperationalError("database is locked")]
    tried: list[int] = []

    def beat(ids: list[int]) -> None:
        tried.append(len(errors))
        if errors:
            raise OperationalError("UPDATE snapshots ...", {}, errors.pop())
        real(ids)

    monkeypatch.setattr(q, "heartbeat", beat)
    with caplog.at_level(logging.WARNING, logger="citevault.workqueue"), q.keeper([sid]) as keep:
        _wait_for(lambda: (_beat_at(archive, sid) or old) > old + timedelta(minutes=59), "a beat")
        assert tried[0] == 1 and keep() is False  # the busy beat was skipped; the next renewed it
        assert "database was busy" in caplog.text
        errors.append(sqlite3.OperationalError("no such table: snapshots"))
        with pytest.raises(OperationalError):  # any other error reaches the capture
            _wait_for(lambda: keep(), "the error to reach the keeper")


def test_a_beat_waiting_for_a_busy_database_does_not_hold_up_the_capture(
    archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The capture's progress loop asks the keeper whether to stop several times a second; a
    beat that waits for a locked snapshot row (SQLite: the whole database, up to its 30 s busy
    timeout; PostgreSQL: the row, without limit) must not make it wait too."""
    [sid] = _queue_urls(archive, 1)
    q, old = _claimed_long_ago(archive, sid)
    real = q.heartbeat
    started, ended = threading.Event(), threading.Event()

    def beat(ids: list[int]) -> None:
        started.set()
        try:
            real(ids)
        finally:
            ended.set()

    monkeypatch.setattr(q, "heartbeat", beat)
    locked, unlock = threading.Event(), threading.Event()

    def hold_the_row() -> None:  # another writer, in the middle of its transaction
        with archive.index.engine.connect() as conn, conn.begin():
            conn.execute(update(Snapshot).where(Snapshot.id == sid).values(error=None))
            locked.set()
            unlock.wait(120)  # the bound matters only when the keeper does block (the bug)

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    try:
        assert locked.wait(30)
        with q.keeper([sid]) as keep:
            _wait_for(lambda: keep() is False and started.is_set(), "a beat to start")
            assert keep() is False
            # keep() answered while the beat waits for the lock: it cannot have ended, nor
            # been skipped, before the other writer lets go.
            assert not ended.is_set()
            unlock.set()
            _wait_for(ended.is_set, "the beat to end")
            assert (_beat_at(archive, sid) or old) > old + timedelta(minutes=59)
    finally:
        unlock.set()
        holder.join()


def test_redis_queue_hands_out_ids_and_resyncs(archive: Archive, redis_url: str) -> None:
    prefix = f"cvtest-{uuid.uuid4().hex[:10]}"
    q = RedisWorkQueue(archive.index, redis_url, prefix=prefix)
    try:
        ids = _queue_urls(archive, 3)
        q.notify(ids)
        assert q.pending() == 3
        first = q.take(timeout=2)
        assert first is not None and first.snapshot_id == ids[0]
        q.notify([ids[0]])  # a duplicate of claimed work is skipped by the database claim
        second = q.take(timeout=2)
        assert second is not None and second.snapshot_id == ids[1]
        # ids[2] lost from Redis (popped by a worker that died before claiming it): sync puts it back.
        q._redis.delete(q.key)
        assert q.take(timeout=0.3) is None
        assert q.sync() == [ids[2]]
        assert q.sync() == []  # not pushed twice
        third = q.take(timeout=2)
        assert third is not None and third.snapshot_id == ids[2]
    finally:
        q._redis.delete(q.key)
        q.close()


def test_worker_stops_a_capture_past_its_time_limit(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeWeb() as fw:
        for k, v in fw.proxy_env().items():
            monkeypatch.setenv(k, v)
        # Answers after 10 minutes: a run that ends well before that was stopped, whatever the
        # load (the child's start-up alone took ~10 s at load 12, so a 20 s bound was a bet).
        fw.add("http://hang.test/", "<html><body>never</body></html>", delay=600)
        archive = _archive(home, f"sqlite:///{home / 'index.db'}", capture_time_limit=2)
        queue = WorkQueue(archive.index)
        [q] = archive.queue(["http://hang.test/"], depth=0, trigger="api")
        job = queue.claim(q.snapshot_id)
        assert job is not None
        pool = WorkerPool(archive, queue, workers=1, grace=1)
        started = time.monotonic()
        assert pool.run(job) == "failed"
        assert time.monotonic() - started < 300
        with archive.index.session() as s:
            snap = s.get(Snapshot, q.snapshot_id)
            assert snap is not None and snap.state == "failed"
            assert "time limit of 2s" in (snap.error or "")
        archive.close()


def test_stopping_workers_requeues_running_captures_with_complete_records(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeWeb() as fw:
        for k, v in fw.proxy_env().items():
            monkeypatch.setenv(k, v)
        fw.add("http://news.test/a", '<html><head><title>a</title></head><body><article><p>Words '
               '<a href="http://slow.test/report">the report</a> more.</p></article></body></html>')
        # In flight when the workers stop, it answers once the stopping worker has settled the
        # capture, so the child's graceful stop ends with its WARC file closed. (It answered after
        # 4 s: on a busy machine, late enough for the capture to end as done first, or too soon.)
        settled = threading.Event()
        fw.add("http://slow.test/report",
               lambda req: "<html><body>report</body></html>" if settled.wait(120) else None)
        archive = _archive(home, f"sqlite:///{home / 'index.db'}")
        queue = WorkQueue(archive.index)
        [q] = archive.queue(["http://news.test/a"], depth=1, trigger="api")
        pool = WorkerPool(archive, queue, workers=1, grace=0.5)
        pool.start()
        deadline = time.monotonic() + 120  # a bound on a condition: both cores may be busy
        while time.monotonic() < deadline:
            with archive.index.session() as s:
                seed = s.scalar(select(Capture.id).where(Capture.snapshot_id == q.snapshot_id,
                                                         Capture.role == "seed"))
            if seed is not None and fw.hits("http://slow.test/report"):
                break
            time.sleep(0.2)
        else:
            pytest.fail("the capture did not reach the slow page")

        def state() -> str | None:
            with archive.index.session() as s:
                return s.scalar(select(Snapshot.state).where(Snapshot.id == q.snapshot_id))

        watcher = threading.Thread(target=_set_once_settled, args=(settled, state))
        watcher.start()
        try:
            pool.stop()
        finally:
            settled.set()
            watcher.join()
        with archive.index.session() as s:
            snap = s.get(Snapshot, q.snapshot_id)
            assert snap is not None
            assert (snap.state, snap.claimed_by) == ("queued", None)
            caps = s.scalars(select(Capture).where(Capture.warc.is_not(None))).all()
        assert any(c.role == "seed" for c in caps)
        warcs = archive.warc_dir
        assert not list(warcs.glob("*.open")), "the WARC file was not closed"
        for c in caps:
            assert c.warc is not None and c.offset is not None
            with open(resolve_path(warcs, c.warc), "rb") as fh:
                fh.seek(c.offset)
                rec = next(iter(ArchiveIterator(fh)))
                assert rec.rec_headers.get_header("WARC-Target-URI") == c.url
                body = rec.raw_stream.read()
                if rec.rec_type == "response":
                    assert hashlib.sha256(body).hexdigest() == c.sha256
        assert worker_id().endswith(f":{os.getpid()}")
        archive.close()


def test_worker_command_needs_redis() -> None:
    res = CliRunner().invoke(get_app(), ["worker"])
    assert res.exit_code == 2
    assert "CITEVAULT_REDIS_URL" in res.stderr and res.stderr.startswith("citevault: error:")
