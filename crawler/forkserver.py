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
import importlib
import logging
import os
import select
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
from typing import IO, Any

__all__ = ["CRAWL_ENTRY", "PRELOAD", "ForkedChild", "ForkServer", "available", "shared_server"]

# What a crawl imports before its first request (measured: the child's sys.modules after a
# crawl, benchmarks/RESULTS.md (2a)); Twisted's reactor is not among them: it is installed
# by Scrapy in the forked child, never in the server.
PRELOAD = (
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
)

_STATUS = struct.Struct("q")  # the child's pid, then its exit code, over the job's status pipe
CRAWL_ENTRY = "citevault.crawler.job:_child_main"


def available() -> bool:
    """Whether crawl children can be forked here (Linux: fd passing and pidfds)."""
    return (sys.platform == "linux" and hasattr(os, "fork") and hasattr(os, "pidfd_open")
            and hasattr(socket, "send_fds") and hasattr(signal, "pidfd_send_signal"))


class ForkedChild:
    """A crawl child forked by the server, with the part of subprocess.Popen's interface that
    job.py uses: text `stdin` (the job, then held open: its end tells the child we are gone),
    text `stdout` (progress lines), `poll`, `wait`, `terminate`, `kill`."""

    def __init__(self, pid: int, stdin: IO[str], stdout: IO[str], status: int) -> None:
        self.pid = pid
        self.stdin = stdin
        self.stdout = stdout
        self.returncode: int | None = None
        self._status = status
        # Signals go through a pidfd: never to another process that reused the pid.
        self._pidfd = os.pidfd_open(pid)
        self._server_gone = False

    def poll(self) -> int | None:
        if self.returncode is not None:
            return self.returncode
        if not self._server_gone:
            if not select.select([self._status], [], [], 0)[0]:
                return None
            data = os.read(self._status, _STATUS.size)
            if len(data) == _STATUS.size:
                self.returncode = _STATUS.unpack(data)[0]
                self._close_fds()
                return self.returncode
            self._server_gone = True  # it cannot report the code: wait for the child itself
        if select.select([self._pidfd], [], [], 0)[0]:
            self.returncode = 255
            self._close_fds()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        fds = [self._pidfd] if self._server_gone else [self._status]
        while self.poll() is None:
            if not select.select(fds, [], [], timeout)[0]:
                raise subprocess.TimeoutExpired(f"crawl child {self.pid}", timeout or 0.0)
            fds = [self._pidfd] if self._server_gone else [self._status]
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def _close_fds(self) -> None:
        for fd in (self._status, self._pidfd):
            with contextlib.suppress(OSError):
                os.close(fd)


class ForkServer:
    """The caller's side: starts the server process and asks it for children."""

    def __init__(self, preload: tuple[str, ...] = PRELOAD) -> None:
        self._lock = threading.Lock()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with theirs:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "citevault.crawler.forkserver", str(theirs.fileno()), *preload],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, pass_fds=[theirs.fileno()],
                start_new_session=True,
            )
        self._sock = ours

    @property
    def pid(self) -> int:
        return self._proc.pid

    def alive(self) -> bool:
        return self._proc.poll() is None

    def fork(self, entry: str = CRAWL_ENTRY) -> ForkedChild:
        """A new child running `entry` ("module:function", called with the server's pid as
        `parent`), its job on stdin. Raises OSError when the server is gone."""
        job_r, job_w = os.pipe()
        out_r, out_w = os.pipe()
        status_r, status_w = os.pipe()
        try:
            try:
                with self._lock:
                    socket.send_fds(self._sock, [entry.encode()], [job_r, out_w, status_w])
            finally:
                for fd in (job_r, out_w, status_w):  # the server holds them now
                    os.close(fd)
            # The server answers with the pid; a dead server closes its end unanswered.
            data = os.read(status_r, _STATUS.size)
            if len(data) != _STATUS.size:
                raise OSError("the crawl fork server is gone")
        except BaseException:
            for fd in (job_w, out_r, status_r):
                os.close(fd)
            raise
        stdin = os.fdopen(job_w, "w", buffering=1)
        stdout = os.fdopen(out_r, "r")
        return ForkedChild(_STATUS.unpack(data)[0], stdin, stdout, status_r)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the server (its children, if any, stop when their parent's pipes close)."""
        self._sock.close()
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


def shared_server() -> ForkServer:
    """This process's fork server, started on first use (again if it died), stopped at exit."""
    with _shared_lock:
        server = _shared.get("server")
        if server is None or not server.alive():
            if server is None:
                atexit.register(_close_shared)
            server = _shared["server"] = ForkServer()
        return server


def _close_shared() -> None:
    server = _shared.pop("server", None)
    if server is not None:
        server.close()


# -- the server process ---------------------------------------------------------------------------
def _serve(sock: socket.socket, preload: list[str]) -> None:
    # No parent-death signal here: Linux sends it when the *thread* that started us ends, and a
    # service starts crawls from worker threads. Stdin's end (the caller holds the other one,
    # alone) is the signal; this loop always waits in select, so it sees it at once.
    for name in [*preload, *(_scrapy_components() if "scrapy.crawler" in preload else [])]:
        with contextlib.suppress(ImportError):  # an optional one (a database driver) is missing
            importlib.import_module(name)
    if "twisted.internet.reactor" in sys.modules or threading.active_count() != 1:
        # Forking would hand every child a reactor or a thread it cannot use: refuse to serve.
        print("citevault: fork server preload installed a reactor or started a thread",
              file=sys.stderr)
        return
    sig_r, sig_w = os.pipe()
    os.set_blocking(sig_r, False)
    os.set_blocking(sig_w, False)
    old_chld = signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(sig_w)
    status_of: dict[int, int] = {}  # child pid -> its status pipe
    me = os.getpid()
    with selectors.DefaultSelector() as sel:
        sel.register(sock, selectors.EVENT_READ)
        sel.register(0, selectors.EVENT_READ)  # stdin: EOF when the caller is gone
        sel.register(sig_r, selectors.EVENT_READ)
        while True:
            ready = {key.fd for key, _ in sel.select()}
            if 0 in ready and not os.read(0, 1024):
                return
            if sig_r in ready:
                with contextlib.suppress(BlockingIOError):
                    os.read(sig_r, 4096)
                _reap(status_of)
            if sock.fileno() in ready:
                try:
                    msg, fds, _, _ = socket.recv_fds(sock, 4096, 3)
                except OSError:
                    return
                if not msg:
                    return  # the caller closed the socket
                if len(fds) != 3:
                    for fd in fds:
                        os.close(fd)
                    continue
                job_r, out_w, status_w = fds
                pid = os.fork()
                if pid == 0:
                    signal.set_wakeup_fd(-1)
                    signal.signal(signal.SIGCHLD, old_chld)
                    for fd in (sock.fileno(), sig_r, sig_w, status_w, *status_of.values()):
                        os.close(fd)
                    _child(msg.decode(), job_r, out_w, me)
                os.close(job_r)
                os.close(out_w)
                status_of[pid] = status_w
                with contextlib.suppress(OSError):
                    os.write(status_w, _STATUS.pack(pid))


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


def _reap(status_of: dict[int, int]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        fd = status_of.pop(pid, None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.write(fd, _STATUS.pack(os.waitstatus_to_exitcode(status)))
            os.close(fd)


def _child(entry: str, job_r: int, out_w: int, server: int) -> None:
    """In the forked child: its own session, the job's pipes as stdin/stdout, then the crawl."""
    code = 1
    try:
        os.setsid()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.dup2(job_r, 0)
        os.dup2(out_w, 1)
        os.close(job_r)
        os.close(out_w)
        module, _, function = entry.partition(":")
        getattr(importlib.import_module(module), function)(parent=server)
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
    _main(sys.argv[1:])
