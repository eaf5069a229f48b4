"""Handles on processes forked without an exec (crawler/forkserver.py): a child the fork server
forked, as its caller sees it, and the fork server itself when forked from its caller; and the
server's side of them: reaping children (their exit codes down their status pipes) and naming
each process."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import os
import select
import signal
import struct
import subprocess
import sys
from collections.abc import Callable
from typing import IO, Any

__all__ = ["PARENT_GONE", "STATUS", "ForkedChild", "ForkedServer", "read_job", "reap", "set_name"]

STATUS = struct.Struct("q")  # the child's pid, then its exit code, over the job's status pipe
_PR_SET_NAME = 15  # linux/prctl.h
PARENT_GONE = 3  # a child's exit code when its parent went away before giving it all its job


def read_job() -> Any:
    """The job a child's parent writes on its stdin as one JSON line. A parent interrupted
    before the whole line was written (Ctrl-C while `add` starts) closes the pipe instead: then
    there is nothing to do, and the child leaves quietly with PARENT_GONE, never a traceback."""
    line = sys.stdin.buffer.readline()
    if not line.endswith(b"\n"):
        raise SystemExit(PARENT_GONE)
    return json.loads(line)


class ForkedChild:
    """A crawl child forked by the server, with the part of subprocess.Popen's interface that
    job.py uses: text `stdin` (the job, then held open: its end tells the child we are gone),
    text `stdout` (progress lines), `poll`, `wait`, `terminate`, `kill`."""

    def __init__(self, pid: int, stdin: IO[str], stdout: IO[str] | None, status: int) -> None:
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
            data = os.read(self._status, STATUS.size)
            if len(data) == STATUS.size:
                self.returncode = STATUS.unpack(data)[0]
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


class ForkedServer:
    """The fork server forked from its caller (no interpreter start, and what the caller has
    imported is not imported again), with the part of subprocess.Popen's interface that
    forkserver.ForkServer uses: `stdin` (its end tells the server we are gone), `poll`, `wait`,
    `kill`. Safe only from a caller with one thread and no open database connection."""

    def __init__(self, serve: Callable[[], None]) -> None:
        alive_r, alive_w = os.pipe()
        # Everything the caller has built so far is left out of every later collection, here
        # and in the server: a collection writes to each object it scans, which would copy
        # the pages the two processes share (benchmarks/history/2026-12-07-and-before.md, p-perf3, item 2).
        gc.freeze()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(alive_w)
                _become_server(alive_r)
                serve()
                code = 0
            finally:
                os._exit(code)
        os.close(alive_r)
        self.pid = pid
        self.stdin: IO[bytes] | None = os.fdopen(alive_w, "wb")
        self.returncode: int | None = None
        self._pidfd = os.pidfd_open(pid)

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
                os.close(self._pidfd)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.poll() is None and not select.select([self._pidfd], [], [], timeout)[0]:
            raise subprocess.TimeoutExpired(f"fork server {self.pid}", timeout or 0.0)
        _, status = os.waitpid(self.pid, 0) if self.returncode is None else (0, 0)
        if self.returncode is None:
            self.returncode = os.waitstatus_to_exitcode(status)
            os.close(self._pidfd)
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)


def _become_server(alive_r: int) -> None:
    """In the forked server: a session of its own, the caller's signal handlers and standard
    streams left behind (their buffers hold the caller's data: never flushed from here)."""
    os.setsid()
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.dup2(alive_r, 0)
    os.close(alive_r)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    # New objects over fds 0 and 1; the caller's stay referenced by sys.__stdin__/__stdout__
    # and are never flushed (the server leaves through os._exit).
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115


def reap(status_of: dict[int, int]) -> None:
    """In the fork server: collect ended children and send each one's exit code down its status
    pipe (`status_of`: child pid -> that pipe, closed once used)."""
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
                os.write(fd, STATUS.pack(os.waitstatus_to_exitcode(status)))
            os.close(fd)


def set_name(name: str) -> None:
    """The name `ps` and /proc/PID/comm show (15 bytes): forked processes share a command line."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(_PR_SET_NAME, ctypes.c_char_p(name[:15].encode()), 0, 0, 0)
