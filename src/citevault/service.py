"""The background service: `citevault serve` runs the HTTP API (uvicorn), the scheduler and capture
workers in one process; `citevault worker` runs capture workers alone (work from Redis).

Each capture runs in a child process with a time limit (Archive.capture), so a crash or hang in a
capture never takes the API down. On SIGTERM the service stops taking work, gives running
captures `shutdown_grace` seconds, then stops the rest (their child closes its WARC files) and
queues them again, so the next start resumes them.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from citevault.crawler.job import finish_snapshots
from citevault.storage.errors import BadInput
from citevault.storage.models import Snapshot

from .archive import Archive, Queued
from .config import Settings
from .workqueue import WorkQueue, open_workqueue

if TYPE_CHECKING:
    import uvicorn

    from .metrics import Metrics

__all__ = ["Service", "WorkerPool", "run_service", "run_workers"]

_log = logging.getLogger(__name__)
_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class WorkerPool:
    """N threads, each claiming a queued snapshot and running its capture in a child process."""

    def __init__(self, archive: Archive, queue: WorkQueue, *, workers: int, grace: float,
                 metrics: Metrics | None = None) -> None:
        self.archive = archive
        self.queue = queue
        self.workers = workers
        self.grace = grace
        self.metrics = metrics
        self._stopping = threading.Event()  # take no more work
        self._abort = threading.Event()  # stop running captures now
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for n in range(self.workers):
            t = threading.Thread(target=self._loop, name=f"capture-worker-{n}", daemon=True)
            t.start()
            self._threads.append(t)

    def begin_stop(self) -> None:
        """Take no new work (running captures go on)."""
        self._stopping.set()
        self.queue.wake_all()

    def abort(self) -> None:
        """Stop running captures now; they are queued again."""
        self._stopping.set()
        self._abort.set()

    def stop(self) -> None:
        """Stop taking work, wait up to `grace` for running captures, then stop and requeue them."""
        self.begin_stop()
        deadline = time.monotonic() + self.grace
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        if any(t.is_alive() for t in self._threads):
            _log.warning("captures still running after %gs: stopping them, to resume on restart", self.grace)
            self._abort.set()
        for t in self._threads:
            t.join()
        self._threads.clear()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                job = self.queue.take(timeout=1.0)
            except Exception:
                _log.exception("cannot take work from the queue; retrying")
                self._stopping.wait(2.0)
                continue
            if job is None:
                continue
            if self._stopping.is_set():
                self.queue.release(job.snapshot_id, "the worker is stopping")
                break
            self.run(job)

    def run(self, job: Queued) -> str:
        """Capture one claimed snapshot; returns its outcome (done, partial, failed, requeued)."""
        started = time.monotonic()
        try:
            with self.queue.keeper([job.snapshot_id], self._abort) as should_stop:
                self.archive.capture([job], None, should_stop)
        except Exception as exc:
            _log.exception("capture of snapshot %s failed to run", job.snapshot_id)
            self._fail(job, f"the capture could not run: {exc}")
        finally:
            self.queue.hold([job.snapshot_id], held=False)
        with self.archive.index.session() as s:
            snap = s.get(Snapshot, job.snapshot_id)
            state = snap.state if snap else "failed"
            nbytes = snap.bytes_written if snap else 0
        if self._abort.is_set() and state not in ("done", "partial"):
            state = "requeued" if self.queue.release(job.snapshot_id, "interrupted") else "failed"
        elif state in ("queued", "running"):
            # The child exited without settling it (cannot normally happen): do not strand it.
            self._fail(job, "the capture process ended without settling the snapshot")
            state = "failed"
        if self.metrics is not None:
            self.metrics.job_finished(state, time.monotonic() - started, nbytes)
        return state

    def _fail(self, job: Queued, error: str) -> None:
        finish_snapshots(self.archive.settings.effective_database_url, [job.snapshot_id], error)


def _api_server(config: uvicorn.Config, on_signal: Callable[[], None]) -> uvicorn.Server:
    """uvicorn, telling the service when a signal asks it to stop. Built here, not at import:
    `citevault worker` imports this module and never serves HTTP (uvicorn, FastAPI and the
    scheduler were half of each worker's start-up CPU)."""
    import uvicorn

    class _ApiServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            on_signal()
            super().handle_exit(sig, frame)

    return _ApiServer(config)


class Service:
    """API + scheduler + workers over one archive."""

    def __init__(self, settings: Settings) -> None:
        from .scheduler import Scheduler
        from .web import create_app

        self.settings = settings
        self.archive = Archive(settings)
        self.archive.index  # noqa: B018  (open and migrate before threads share it)
        self.app = create_app(settings, self.archive)
        self.queue = open_workqueue(settings, self.archive.index)
        self.app.state.workqueue = self.queue
        self.metrics: Metrics = self.app.state.metrics
        self.scheduler = Scheduler(self.archive, self.queue)
        self.app.state.scheduler = self.scheduler
        self.pool = WorkerPool(self.archive, self.queue, workers=settings.workers,
                               grace=settings.shutdown_grace, metrics=self.metrics)
        self._signals = 0
        self._echoes = 0

    def _on_signal(self, *_: Any) -> None:
        if self._echoes:
            self._echoes -= 1
            return
        self._drain()

    def _on_uvicorn_signal(self) -> None:
        # uvicorn raises the signal again once it has stopped: that echo is not a second signal.
        self._echoes += 1
        self._drain()

    def _drain(self) -> None:
        # First signal: take no more work and let running captures finish (within the grace
        # period). A second one: stop running captures at once.
        self._signals += 1
        self.pool.begin_stop()
        self.scheduler.pause()
        if self._signals > 1:
            self.pool.abort()

    def _listen(self) -> socket.socket:
        s = self.settings
        try:
            family, kind, proto, _, addr = socket.getaddrinfo(s.host, s.port, type=socket.SOCK_STREAM)[0]
            sock = socket.socket(family, kind, proto)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(addr)
        except OSError as exc:
            raise BadInput(f"cannot listen on {s.host}:{s.port}: {exc.strerror or exc}") from exc
        return sock

    def run(self, announce: Callable[[str], None] | None = None) -> int:
        s = self.settings
        sock = self._listen()  # before anything starts: a port in use is a one-line error
        for sig in _SIGNALS:  # uvicorn takes them over while it runs and restores these after
            signal.signal(sig, self._on_signal)
        if announce is not None:
            announce(f"citevault serving {s.base_url} with {s.workers} capture worker(s)"
                     f"{' via Redis' if s.redis_url else ''}; API docs at {s.base_url}/docs")
        recovered = self.archive.recover_files()
        if recovered:
            _log.warning("closed %d WARC file(s) a crashed capture left open", len(recovered))
        requeued = self.queue.recover()
        if requeued:
            _log.warning("queued again %d interrupted capture(s): %s", len(requeued), requeued)
        self.queue.wake_all()  # queued work waits in the index (and, with Redis, was re-synced)
        self.scheduler.start()
        restored = self.scheduler.restore(s)
        if restored:
            _log.warning("scheduled again %d job(s) the job store lacked: %s", len(restored), restored)
        self.pool.start()
        import uvicorn

        config = uvicorn.Config(self.app, host=s.host, port=s.port, log_level="warning",
                                access_log=False)
        server = _api_server(config, self._on_uvicorn_signal)
        try:
            if not self._signals:  # not told to stop while starting
                server.run(sockets=[sock])
        finally:
            sock.close()
            self.scheduler.shutdown()
            self.pool.stop()
            self.queue.close()
            self.archive.close()
        return 0 if server.started or self._signals else 1


def run_service(settings: Settings, announce: Callable[[str], None] | None = None) -> int:
    """`citevault serve`."""
    return Service(settings).run(announce)


def run_workers(settings: Settings) -> int:
    """`citevault worker`: capture workers taking snapshot ids from Redis, until SIGTERM/SIGINT."""
    archive = Archive(settings)
    archive.index  # noqa: B018  (open and migrate before the workers share it)
    queue = open_workqueue(settings, archive.index)
    pool = WorkerPool(archive, queue, workers=max(1, settings.workers), grace=settings.shutdown_grace)
    stop = threading.Event()
    count = 0

    def on_signal(*_: Any) -> None:
        nonlocal count
        count += 1
        stop.set()
        pool.begin_stop()
        if count > 1:
            pool.abort()

    for sig in _SIGNALS:
        signal.signal(sig, on_signal)
    queue.recover()
    pool.start()
    while not stop.wait(1.0):
        pass
    pool.stop()
    queue.close()
    archive.close()
    return 0
