"""A fork server for crawl children: one long-lived process per caller that has imported the
crawl's modules once (no reactor, no database connection, no threads) and forks a child per job,
so that a job costs its crawl, not an interpreter start and a second import of Scrapy.

The server is started on the first crawl and lives as long as the process that started it. It
runs in a session of its own (Ctrl-C reaches the caller, which decides) and watches its stdin
(the caller holds the other end, alone), so it never outlives the caller. Each child gets its
own session too, the job's pipes passed over a Unix socket, and the caller's environment and
working directory with the job; it then runs exactly what a child started by
`python -m citevault.crawler.job` runs (job.py `_child_main`).

Not multiprocessing's "forkserver" context: that server shares the caller's process group
(Ctrl-C would reach every crawl child before the caller could decide), keeps running until
every child it forked has gone, starts a second helper process (the resource tracker), re-runs
the caller's `__main__` in each child, and reports a child as dead with code 255 as soon as the
server itself dies, while the crawl still writes. The part it would share with this module
(fork, reap, report the status over a pipe) is short; the differences are the guarantees.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import logging
import os
import select
import selectors
import signal
import socket
import subprocess
import sys
import threading
from typing import Any

from .forkedprocess import STATUS, ForkedChild, ForkedServer, reap, set_name

__all__ = ["MANY_JOBS", "PRELOAD", "ForkedChild", "ForkServer", "available", "prestart", "shared_server",
           "start_child"]

# What a crawl imports before its first request (measured: the child's sys.modules after a
# crawl, benchmarks/history/2026-12-07-and-before.md, p-perf2's (2a)); Twisted's reactor is
# not among them: it is installed by Scrapy in the forked child, never in the server. Scrapy's
# two TLS modules come first: each
# makes deprecated aliases whose creation calls inspect.stack(), a cost that grows with the
# frames above it, and imported at the top of the chain they have the fewest (benchmarks/history/
# 2026-12-07-p-jobs5.md).
PRELOAD = (
    "scrapy.core.downloader.tls",
    "scrapy.core.downloader.contextfactory",
    "citevault.crawler.job",
    "scrapy.crawler",
    "citevault.storage.warcstore",
    "citevault.crawler.provenance",
    "citevault.crawler.recorder",
    "citevault.crawler.spider",
    "citevault.crawler.pageindex",
    "citevault.crawler.seal",
    "citevault.crawler.middlewares",
    "citevault.crawler.politeness",
    "citevault.crawler.guard",
    "citevault.crawler.robots",
    "citevault.crawler.lifecycle",
    "citevault.crawler.tlsfacts",
    "surt",
    "tldextract",
    "sqlalchemy.dialects.sqlite",
    "sqlalchemy.dialects.postgresql.psycopg",
    "trafilatura",
)

# Run in a fork server that serves many jobs, after its imports ("module:function"): work every
# child would repeat, done once for all of them. `add`'s server serves one job: not there.
MANY_JOBS = ("citevault.crawler.metadata:warm_up", "citevault.crawler.seal:warm_up")

_DIALECTS = {"sqlalchemy.dialects.sqlite": "sqlite", "sqlalchemy.dialects.postgresql.psycopg": "postgresql"}


def available() -> bool:
    """Whether crawl children can be forked here (Linux: fd passing and pidfds). A kernel before
    5.3, a seccomp sandbox or valgrind has the functions but refuses pidfd_open: then children are
    new interpreters, as elsewhere, not a traceback at the first fork."""
    if not (sys.platform == "linux" and hasattr(os, "fork") and hasattr(os, "pidfd_open")
            and hasattr(socket, "send_fds") and hasattr(signal, "pidfd_send_signal")):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return False
    return True


class ForkServer:
    """The caller's side: starts the server process and asks it for children. A forked child
    holds a connection of its own to the same server (`inherited`), for children of its own."""

    def __init__(self, preload: tuple[str, ...] = PRELOAD, *, fork_here: bool = False,
                 database_url: str = "") -> None:
        """`fork_here`: fork the server from this process (see `prestart`), not a new
        interpreter; then the children's engine for `database_url` is made ready there."""
        self._lock = threading.Lock()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with theirs:
            self._proc: subprocess.Popen[bytes] | ForkedServer | None
            if fork_here:
                def serve() -> None:
                    ours.close()
                    set_name("citevault-forks")
                    # The caller's other descriptors stay open here (closing them under the
                    # caller's objects could close a reused number later): none is a database's.
                    _serve(theirs, list(preload), database_url)

                self._proc = ForkedServer(serve)
            else:
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "citevault.crawler.forkserver", str(theirs.fileno()), *preload],
                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, pass_fds=[theirs.fileno()],
                    start_new_session=True,
                )
        self._sock = ours
        self._pid = self._proc.pid

    @classmethod
    def inherited(cls, sock: socket.socket, pid: int) -> ForkServer:
        server = cls.__new__(cls)
        server._lock, server._sock, server._proc, server._pid = threading.Lock(), sock, None, pid
        return server

    @property
    def pid(self) -> int:
        return self._pid

    def alive(self) -> bool:
        return self._proc is None or self._proc.poll() is None

    def fork(self, entry: str, *, output: bool = True) -> ForkedChild:
        """A new child running `entry` ("module:function", called with the server's pid as
        `parent`), its job on stdin, its stdout a pipe to us (`output`) or /dev/null. Raises
        OSError when the server is gone."""
        job_r, job_w = os.pipe()
        out_r, out_w = os.pipe() if output else (-1, os.open(os.devnull, os.O_WRONLY))
        status_r, status_w = os.pipe()
        try:
            try:
                with self._lock:
                    socket.send_fds(self._sock, [entry.encode()], [job_r, out_w, status_w])
            finally:
                for fd in (job_r, out_w, status_w):  # the server holds them now
                    os.close(fd)
            # The server answers with the pid; a dead server closes its end unanswered.
            data = os.read(status_r, STATUS.size)
            if len(data) != STATUS.size:
                raise OSError("the crawl fork server is gone")
        except BaseException:
            for fd in (job_w, out_r, status_r):
                if fd >= 0:
                    os.close(fd)
            raise
        stdin = os.fdopen(job_w, "w", buffering=1)
        stdout = os.fdopen(out_r, "r") if output else None
        return ForkedChild(STATUS.unpack(data)[0], stdin, stdout, status_r)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the server (its children, if any, stop when their parent's pipes close)."""
        self._sock.close()
        if self._proc is None:
            return
        if self._proc.stdin is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


_shared: dict[str, ForkServer] = {}
_shared_lock = threading.Lock()


def prestart(database_url: str = "", *, many_jobs: bool = False) -> None:
    """Start this process's fork server now, so that it preloads while the caller does its own
    work; forked from the caller when that is safe here and now (one thread; the caller makes
    sure no database connection is open), so the caller's imports are not done again. With
    `database_url`, only that database's driver is preloaded; with `many_jobs` (a worker), the
    server also does MANY_JOBS' work once for all its children."""
    if not available():
        return
    with _shared_lock:
        if "server" not in _shared:
            atexit.register(_close_shared)
            fork_here = threading.active_count() == 1
            if fork_here:
                _configure_orm()  # the caller uses the index too: configured once, for both
                for name in _preload_for(database_url) if database_url else ():
                    if name in _DIALECTS:  # and opens it next: its driver imported once, for both
                        with contextlib.suppress(ImportError):  # opening it says what is missing
                            _import_dialect(name)
            preload = _preload_for(database_url) + (MANY_JOBS if many_jobs else ())
            _shared["server"] = ForkServer(preload, fork_here=fork_here, database_url=database_url)


def _configure_orm() -> None:
    """Configure the index's ORM mappers now if its models are loaded: SQLAlchemy does it on the
    first query otherwise, in every crawl child again (a seventh of a one-page child's CPU)."""
    if "citevault.storage.models" in sys.modules:
        from sqlalchemy.orm import configure_mappers

        configure_mappers()


def _preload_for(database_url: str) -> tuple[str, ...]:
    """PRELOAD without the drivers of other databases than `database_url`'s (all when empty)."""
    scheme = database_url.partition(":")[0].partition("+")[0]
    if not scheme:
        return PRELOAD
    return tuple(m for m in PRELOAD if _DIALECTS.get(m, scheme) == scheme)


def shared_server(*, start: bool = True) -> ForkServer | None:
    """This process's fork server: the one that forked us, or else (`start`) one of our own,
    started on first use (again if it died) and stopped at exit."""
    with _shared_lock:
        server = _shared.get("server")
        if not start and (server is None or server._proc is not None):
            return server
        if server is None or not server.alive():
            if server is None:
                atexit.register(_close_shared)
            # Started on first use (`add`, `worker` and `serve` start theirs with `prestart`;
            # this one serves what else crawls, or replaces a server that died): many jobs.
            server = _shared["server"] = ForkServer((*PRELOAD, *MANY_JOBS))
        return server


def _close_shared() -> None:
    server = _shared.pop("server", None)
    if server is not None:
        server.close()


def start_child(module: str, *, output: bool = True, start_server: bool = True
                ) -> subprocess.Popen[str] | ForkedChild:
    """A child running `module`'s `_child_main`, waiting for its job on stdin: forked by this
    process's fork server where there is one (`start_server`: start it if need be), else a new
    interpreter (`python -m module`), in a session of its own either way."""
    if available():
        try:
            server = shared_server(start=start_server)
            if server is not None:
                return server.fork(f"{module}:_child_main", output=output)
        except OSError as exc:
            print(f"citevault: the fork server failed ({exc}); starting a new process", file=sys.stderr)
    return subprocess.Popen(
        [sys.executable, "-m", module], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE if output else subprocess.DEVNULL, stderr=None, text=True, bufsize=1,
        # Its own session: a signal to our process group (Ctrl-C, a service manager) reaches us,
        # and we decide whether the work is failed or queued again, not the child on its own.
        start_new_session=True,
    )


# -- the server process ---------------------------------------------------------------------------
def _serve(sock: socket.socket, preload: list[str], database_url: str = "") -> None:
    # No parent-death signal here: Linux sends it when the *thread* that started us ends, and a
    # service starts crawls from worker threads. Stdin's end (the caller holds the other one,
    # alone) is the signal; this loop always waits in select, so it sees it at once.
    global _shared_lock
    _shared_lock = threading.Lock()  # forked from a caller that held it (prestart)
    gc.disable()  # imports make no garbage: their collections would cost a sixth of their CPU
    for name in [*preload, *(_scrapy_components() if "scrapy.crawler" in preload else [])]:
        if select.select([0], [], [], 0)[0]:
            return  # the caller is gone already (a command that failed on its input)
        if ":" in name:  # a warm-up: only saves the children work, so never fatal here
            with contextlib.suppress(Exception):
                _function(name)()
            continue
        with contextlib.suppress(ImportError):  # an optional one (a database driver) is missing
            if name in _DIALECTS:
                _import_dialect(name)
            else:
                importlib.import_module(name)
    _configure_orm()
    if database_url:
        from citevault.storage.db import prepare_engine

        from .rehearsal import rehearse  # the children's engine, made ready once here

        prepare_engine(database_url, rehearse if "citevault.crawler.job" in preload else None)
    if "twisted.internet.reactor" in sys.modules or threading.active_count() != 1:
        # Forking would hand every child a reactor or a thread it cannot use: refuse to serve.
        print("citevault: fork server preload installed a reactor or started a thread",
              file=sys.stderr)
        return
    # The preloaded modules are out of every later collection, here and in each child: a
    # collection writes to each object it scans, which would copy the pages they share.
    gc.freeze()
    gc.enable()
    sig_r, sig_w = os.pipe()
    os.set_blocking(sig_r, False)
    os.set_blocking(sig_w, False)
    old_chld = signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(sig_w)
    status_of: dict[int, int] = {}  # child pid -> its status pipe
    channels: dict[int, socket.socket] = {sock.fileno(): sock}  # the caller's, and each child's
    me = os.getpid()
    with selectors.DefaultSelector() as sel:
        sel.register(0, selectors.EVENT_READ)  # stdin: EOF when the caller is gone
        sel.register(sig_r, selectors.EVENT_READ)
        sel.register(sock, selectors.EVENT_READ)
        while True:
            ready = {key.fd for key, _ in sel.select()}
            if 0 in ready and not os.read(0, 1024):
                return
            if sig_r in ready:
                with contextlib.suppress(BlockingIOError):
                    os.read(sig_r, 4096)
                reap(status_of)
            for fd in ready & set(channels):
                try:
                    msg, fds, _, _ = socket.recv_fds(channels[fd], 4096, 3)
                except OSError:
                    msg, fds = b"", []
                if not msg:  # that side closed its connection (a child ended)
                    if fd == sock.fileno():
                        return
                    sel.unregister(fd)
                    channels.pop(fd).close()
                    continue
                if len(fds) != 3:
                    for extra in fds:
                        os.close(extra)
                    continue
                job_r, out_w, status_w = fds
                theirs, mine = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                pid = os.fork()
                if pid == 0:
                    signal.set_wakeup_fd(-1)
                    signal.signal(signal.SIGCHLD, old_chld)
                    for other in (sig_r, sig_w, status_w, *status_of.values()):
                        os.close(other)
                    for channel in (mine, *channels.values()):
                        channel.close()
                    _child(msg.decode(), job_r, out_w, theirs, me)
                theirs.close()
                channels[mine.fileno()] = mine
                sel.register(mine, selectors.EVENT_READ)
                os.close(job_r)
                os.close(out_w)
                status_of[pid] = status_w
                with contextlib.suppress(OSError):
                    os.write(status_w, STATUS.pack(pid))


def _import_dialect(name: str) -> None:
    """A SQLAlchemy dialect module and its DB-API driver (psycopg, sqlite3), which the dialect
    leaves to the first engine: that was every crawl child's and page indexer's own (psycopg:
    55-90 ms of CPU a process, twice a job; benchmarks/history/2026-12-07-p-job6-eve.md)."""
    importlib.import_module(name).dialect.import_dbapi()


def _scrapy_components() -> list[str]:
    """The modules of the components Scrapy loads by name in every crawl (its default
    middlewares, extensions, handlers, queues): imported once here, not in each child."""
    from scrapy.settings import default_settings as d

    paths = [*d.DOWNLOADER_MIDDLEWARES_BASE, *d.SPIDER_MIDDLEWARES_BASE, *d.EXTENSIONS_BASE,
             *d.DOWNLOAD_HANDLERS_BASE.values(), d.SCHEDULER, d.SCHEDULER_PRIORITY_QUEUE,
             d.SCHEDULER_DISK_QUEUE, d.SCHEDULER_MEMORY_QUEUE, d.DUPEFILTER_CLASS, d.STATS_CLASS,
             d.LOG_FORMATTER]
    # The remote control is left out of every crawl (job.py `_extensions_base`): not imported.
    return [p.rpartition(".")[0] for p in paths if isinstance(p, str) and not p.endswith(".RemoteControl")]


def _function(entry: str) -> Any:
    """The function an entry names, "module:function" (a child's entry, a warm-up)."""
    module, _, function = entry.partition(":")
    return getattr(importlib.import_module(module), function)


def _child(entry: str, job_r: int, out_w: int, channel: socket.socket, server: int) -> None:
    """In the forked child: its own session, the job's pipes as stdin/stdout, its own connection
    to the server (for children of its own: the crawl's page indexer), then the entry."""
    code = 1
    try:
        os.setsid()
        _shared["server"] = ForkServer.inherited(channel, server)
        set_name("citevault-" + entry.partition(":")[0].rpartition(".")[2])
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.dup2(job_r, 0)
        os.dup2(out_w, 1)
        os.close(job_r)
        os.close(out_w)
        _function(entry)(parent=server)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


def _main(argv: list[str]) -> Any:
    sock = socket.socket(fileno=int(argv[0]))
    _serve(sock, argv[1:])


if __name__ == "__main__":
    # Through the imported module, not this __main__ copy: children look up their connection
    # to the server (`shared_server`) there.
    from citevault.crawler import forkserver

    forkserver._main(sys.argv[1:])
