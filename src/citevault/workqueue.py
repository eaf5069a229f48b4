"""The queue of capture work: queued Snapshot rows, claimed atomically by workers (or dispatched
through a Redis list), each claim a lease kept alive by heartbeats so that lost work runs again.

The index is the source of truth: a snapshot is work while its state is `queued`; a worker takes
it by moving it to `running` in one conditional statement, so two workers never run the same
snapshot even when Redis hands the same id out twice.

Why home-made, not a queue library (RQ, Celery, Dramatiq, procrastinate, ...): the Snapshot row
already is the job (state, attempts, lease, error), so a library would keep a second copy of the
state that can disagree with the index; SQLite is the default database, which rules out the
PostgreSQL-only queues (procrastinate, pgqueuer); and the work is one kind of job with one retry
rule, about 300 lines here. What would make us switch: jobs of many kinds with their own retry,
priority and rate policies, scheduling across machines beyond one Redis list, or dropping SQLite
so that a PostgreSQL queue could keep its jobs in the same rows.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.exc import OperationalError

from citevault.storage.db import Index
from citevault.storage.errors import is_busy
from citevault.storage.models import Capture, Snapshot, Source, utcnow
from citevault.storage.snapshots import settle_state

from .archive import Queued
from .config import Settings

_log = logging.getLogger(__name__)

__all__ = ["RedisWorkQueue", "WorkQueue", "open_workqueue", "worker_id"]

# A snapshot whose capture keeps dying (it crashes or hangs its worker) is given up after this
# many attempts instead of being queued forever.
MAX_ATTEMPTS = 5
INTERRUPTED = "interrupted: its capture process died before it finished"
_TERMINAL = ("done", "partial", "failed")


def worker_id() -> str:
    """Who claims work: `host:pid`."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class WorkQueue:
    """Queued snapshots in the index database. Claims use SELECT ... FOR UPDATE SKIP LOCKED on
    PostgreSQL and a conditional UPDATE (state still queued) on SQLite."""

    def __init__(self, index: Index, *, owner: str | None = None, lease: float = 120.0) -> None:
        self.index = index
        self.owner = owner or worker_id()
        self.lease = lease
        self.heartbeat_every = max(0.5, min(10.0, lease / 4))
        self._wake = threading.Event()
        self._held: set[int] = set()
        self._held_lock = threading.Lock()

    # -- producing -------------------------------------------------------------------------------
    def notify(self, snapshot_ids: Iterable[int]) -> None:
        """New queued snapshots exist: wake this process's waiting workers."""
        self._wake.set()

    def wake_all(self) -> None:
        self._wake.set()

    # -- claiming --------------------------------------------------------------------------------
    def claim(self, snapshot_id: int) -> Queued | None:
        """Take one given snapshot if it is still queued."""
        with self.index.session() as s:
            return self._claim_in(s, snapshot_id)

    def claim_next(self) -> Queued | None:
        """Take the oldest queued snapshot, or None when there is none."""
        postgres = self.index.engine.dialect.name == "postgresql"
        for _ in range(20):  # SQLite: another worker may win the race for the same row
            with self.index.session() as s:
                q = select(Snapshot.id).where(Snapshot.state == "queued").order_by(Snapshot.id).limit(1)
                if postgres:
                    q = q.with_for_update(skip_locked=True)
                sid = s.scalar(q)
                if sid is None:
                    return None
                got = self._claim_in(s, sid)
                if got is not None:
                    return got
        return None

    def _claim_in(self, s: Any, snapshot_id: int) -> Queued | None:
        now = utcnow()
        res = s.execute(
            update(Snapshot)
            .where(Snapshot.id == snapshot_id, Snapshot.state == "queued")
            .values(state="running", claimed_by=self.owner, heartbeat_at=now, error=None)
        )
        if res.rowcount != 1:
            return None
        self.hold([snapshot_id])
        row = s.execute(
            select(Source.id, Source.url, Source.depth, Source.scope, Source.browser)
            .join(Snapshot, Snapshot.source_id == Source.id).where(Snapshot.id == snapshot_id)
        ).one()
        return Queued(row.id, snapshot_id, row.url, row.depth, row.scope, row.browser)

    def take(self, timeout: float = 1.0) -> Queued | None:
        """Claim the next snapshot, waiting up to `timeout` seconds for one to be queued."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.claim_next()
            if got is not None:
                return got
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if self._wake.wait(min(left, 1.0)):
                self._wake.clear()

    # -- running ---------------------------------------------------------------------------------
    @contextmanager
    def keeper(self, snapshot_ids: list[int], stop: threading.Event | None = None
               ) -> Iterator[Callable[[], bool]]:
        """While the block runs, renew the claims' lease every `heartbeat_every` seconds from a
        thread of its own (and its own pooled connection); yields a `should_stop` callable for
        Archive.capture: whether `stop` is set, raising what ended the heartbeat (a database
        error other than a busy one). Not in the capture's progress loop: a beat waits for a busy
        database (SQLite's 30 s busy timeout; a PostgreSQL row lock, without limit)."""
        done = threading.Event()
        failed: list[Exception] = []

        def beat() -> None:
            while not done.wait(self.heartbeat_every):
                try:
                    self.heartbeat(snapshot_ids)
                except Exception as exc:
                    # The crawl's own writes can keep SQLite's lock busier than the busy timeout
                    # (a 100,000-URL crawl commits back to back, and SQLite's waiting writer is
                    # not served in turn). A missed beat only shortens the lease's slack (beats
                    # come every quarter lease): the next one renews it; the capture goes on.
                    if not (isinstance(exc, OperationalError) and is_busy(exc)):
                        failed.append(exc)
                        return
                    _log.warning("heartbeat of snapshot(s) %s skipped: the database was busy",
                                 snapshot_ids)

        def should_stop() -> bool:
            if failed:
                raise failed.pop()
            return stop is not None and stop.is_set()

        # A daemon, never joined: a beat stuck on a lock must not hold up the end of the capture
        # either, and one that lands late renews nothing (only running claims of ours).
        threading.Thread(target=beat, name=f"heartbeat-{snapshot_ids}", daemon=True).start()
        try:
            yield should_stop
        finally:
            done.set()

    def heartbeat(self, snapshot_ids: list[int]) -> None:
        with self.index.session() as s:
            s.execute(
                update(Snapshot)
                .where(Snapshot.id.in_(snapshot_ids), Snapshot.state == "running",
                       Snapshot.claimed_by == self.owner)
                .values(heartbeat_at=utcnow())
            )

    def release(self, snapshot_id: int, reason: str | None = None) -> bool:
        """Put an unfinished (interrupted) snapshot back in the queue; its attempt is not lost:
        what it captured stays indexed and the next run records unchanged payloads as revisits.
        Past MAX_ATTEMPTS it is failed instead. Returns whether it was queued again."""
        self.hold([snapshot_id], held=False)
        with self.index.session() as s:
            snap = s.get(Snapshot, snapshot_id)
            if snap is None or snap.state == "queued":
                return snap is not None
            if snap.attempts >= MAX_ATTEMPTS:
                snap.state, snap.finished_at = "failed", utcnow()
                snap.error = f"gave up after {snap.attempts} attempts" + (f" ({reason})" if reason else "")
                return False
            snap.state, snap.claimed_by, snap.heartbeat_at = "queued", None, None
            snap.finished_at, snap.error = None, None
        self.notify([snapshot_id])
        return True

    def run_here(
        self,
        archive: Any,
        queued: list[Queued],
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        timeout: float | None = None,
    ) -> None:
        """Capture queued snapshots in the foreground (`add`, `decorate`): claim them first, so a
        `citevault serve` on the same index leaves them alone, then wait for any a worker won."""
        self.recover()  # settle what an earlier `add` that crashed left running
        mine = [q for q in queued if self.claim(q.snapshot_id) is not None]
        if mine:
            with self.keeper([q.snapshot_id for q in mine]) as should_stop:
                archive.capture(mine, on_progress, should_stop)
        limit = timeout if timeout is not None else archive.settings.capture_time_limit
        self.wait_finished([q.snapshot_id for q in queued], timeout=limit)

    def wait_finished(self, snapshot_ids: list[int], timeout: float, poll: float = 0.5) -> None:
        """Block until every snapshot is done, partial or failed (or `timeout` passes)."""
        deadline = time.monotonic() + timeout
        while snapshot_ids and time.monotonic() < deadline:
            with self.index.session() as s:
                left = s.scalar(
                    select(func.count())
                    .where(Snapshot.id.in_(snapshot_ids), Snapshot.state.not_in(_TERMINAL))
                )
            if not left:
                return
            time.sleep(poll)

    # -- looking after the queue -----------------------------------------------------------------
    def depth(self) -> int:
        with self.index.session() as s:
            return int(s.scalar(select(func.count()).where(Snapshot.state == "queued")) or 0)

    def recover(self) -> list[int]:
        """Deal with the snapshots whose worker is gone: claimed by a dead process on this host
        (or by an earlier process with our own id, as after a container restart), or silent for
        longer than the lease. Returns the ids of the snapshots queued to run (the lost ones
        again, or fresh ones in place of those settled)."""
        host = socket.gethostname()
        stale = utcnow() - timedelta(seconds=self.lease)
        lost: list[int] = []
        with self.index.session() as s:
            rows = s.execute(
                select(Snapshot.id, Snapshot.claimed_by, Snapshot.heartbeat_at, Snapshot.started_at,
                       Snapshot.queued_at).where(Snapshot.state == "running")
            ).all()
        for sid, owner, beat, started, queued in rows:
            last = beat or started or queued
            if owner == self.owner:
                # Our own id but not a claim we hold: an earlier process with the same pid (pid 1
                # in a container) that did not finish it.
                with self._held_lock:
                    if sid not in self._held:
                        lost.append(sid)
                continue
            h, _, pid = (owner or "").rpartition(":")
            dead_here = bool(owner) and h == host and pid.isdigit() and not _pid_alive(int(pid))
            if dead_here or last is None or last < stale:
                lost.append(sid)
        # A lost snapshot that captured something is settled (partial, or failed without its
        # seed), never run again: a second run would capture its pages twice into it. Service
        # work gets a fresh snapshot instead (its attempts carried over, so a capture that keeps
        # crashing its worker is given up after MAX_ATTEMPTS). One that captured nothing is
        # queued again, unless a foreground `add` ran it: nobody would run it then.
        out: list[int] = []
        fresh: list[int] = []
        for sid in lost:
            settled, retry = self._settle_lost(sid)
            if not settled:
                if self._release_if_running(sid):  # release() tells the workers
                    out.append(sid)
            elif retry is not None:
                fresh.append(retry)
        if fresh:
            self.notify(fresh)
        return out + fresh

    def _settle_lost(self, snapshot_id: int) -> tuple[bool, int | None]:
        """Settle a lost snapshot from what it captured: (whether it was settled, the id of
        the fresh snapshot queued in its place, if any). Not settled when it captured nothing
        and should simply run again."""
        self.hold([snapshot_id], held=False)
        with self.index.session() as s:
            snap = s.get(Snapshot, snapshot_id)
            if snap is None or snap.state != "running":
                return True, None
            caps = s.execute(
                select(Capture.role, Capture.error, Capture.warc, Capture.status)
                .where(Capture.snapshot_id == snapshot_id)
            ).all()
            if not caps and snap.trigger != "cli":
                return False, None
            rows = [(r, e, w, st) for r, e, w, st in caps]
            state, why = settle_state(rows, INTERRUPTED, keep_captured=True)
            snap.state, snap.error, snap.finished_at = state, why, utcnow()
            snap.claimed_by, snap.heartbeat_at = None, None
            if snap.trigger == "cli" or snap.attempts >= MAX_ATTEMPTS:
                return True, None
            fresh = Snapshot(source_id=snap.source_id, trigger=snap.trigger, state="queued",
                             queued_at=utcnow(), attempts=snap.attempts)
            s.add(fresh)
            s.flush()
            return True, fresh.id

    def hold(self, snapshot_ids: Iterable[int], held: bool = True) -> None:
        """Mark claims this process is running right now (every claim it makes, until it lets
        go), so that recover() leaves them alone."""
        with self._held_lock:
            if held:
                self._held.update(snapshot_ids)
            else:
                self._held.difference_update(snapshot_ids)

    def _release_if_running(self, snapshot_id: int) -> bool:
        with self.index.session() as s:
            res = cast("CursorResult[Any]", s.execute(
                update(Snapshot).where(Snapshot.id == snapshot_id, Snapshot.state == "running")
                .values(heartbeat_at=None)
            ))
            if res.rowcount != 1:
                return False
        return self.release(snapshot_id, "its worker stopped")

    def close(self) -> None:
        self._wake.set()


class RedisWorkQueue(WorkQueue):
    """The same queue with snapshot ids handed out through a Redis list (`PREFIX:captures`), so
    that `citevault worker` processes on other machines share the work without polling the
    database. The database claim still decides who runs a snapshot."""

    def __init__(self, index: Index, redis_url: str, *, prefix: str = "citevault",
                 owner: str | None = None, lease: float = 120.0) -> None:
        super().__init__(index, owner=owner, lease=lease)
        import redis

        self.redis_url = redis_url
        self.key = f"{prefix}:captures"
        self._redis = redis.Redis.from_url(redis_url, socket_timeout=30, socket_connect_timeout=5)

    def notify(self, snapshot_ids: Iterable[int]) -> None:
        ids = [str(i) for i in snapshot_ids]
        if ids:
            self._redis.rpush(self.key, *ids)
        super().notify(snapshot_ids)

    def take(self, timeout: float = 1.0) -> Queued | None:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            item = self._redis.blpop([self.key], timeout=max(0.1, min(left, 1.0)))
            if item is None:
                continue
            got = self.claim(int(item[1]))
            if got is not None:
                return got  # otherwise someone else ran it already: a duplicate id

    def sync(self) -> list[int]:
        """Push every queued snapshot that is missing from the Redis list (lost between a pop and
        a claim, or queued while Redis was away). Returns the ids pushed."""
        with self.index.session() as s:
            queued = list(
                s.scalars(select(Snapshot.id).where(Snapshot.state == "queued").order_by(Snapshot.id))
            )
        present = {int(x) for x in self._redis.lrange(self.key, 0, -1)}
        missing = [i for i in queued if i not in present]
        if missing:
            self._redis.rpush(self.key, *[str(i) for i in missing])
        return missing

    def recover(self) -> list[int]:
        requeued = super().recover()
        self.sync()
        return requeued

    def pending(self) -> int:
        return int(self._redis.llen(self.key))

    def close(self) -> None:
        super().close()
        self._redis.close()


def open_workqueue(settings: Settings, index: Index, owner: str | None = None) -> WorkQueue:
    """The work queue the settings call for: through Redis when redis_url is set."""
    if settings.redis_url:
        return RedisWorkQueue(index, settings.redis_url, prefix=settings.redis_prefix, owner=owner,
                              lease=settings.lease_timeout)
    return WorkQueue(index, owner=owner, lease=settings.lease_timeout)

