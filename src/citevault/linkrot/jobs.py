"""Link checks as queued background work for the HTTP API: a bounded queue served by a few
worker threads of their own, so that checks (each URL bounded by CITEVAULT_CHECK_DEADLINE) never
occupy the threads the API answers requests with, and a burst of requests is refused (Busy)
instead of piling up.

Forty concurrent checks run in the API's shared thread pool made `/healthz` and `/cdx` stop
answering for minutes, and SIGTERM could not stop the service (issue 13). The workers are daemon
threads, unlike those of concurrent.futures, which the interpreter joins at exit: a service told
to stop does not wait for checks in flight (their results so far are in the index already).
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from citevault.storage.models import utcnow

__all__ = ["Busy", "CheckJob", "CheckQueue"]

_KEEP = 500  # finished jobs remembered for GET /api/checks/{id}


class Busy(Exception):
    """The queue of checks is full: try again later."""


@dataclass
class CheckJob:
    """One queued check of every cited URL of a source."""

    id: int
    source_id: int
    state: str = "queued"  # queued|running|done|failed
    queued_at: datetime = field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        def iso(dt: datetime | None) -> str | None:
            return dt.isoformat(timespec="seconds") + "Z" if dt is not None else None

        return {
            "job": self.id, "id": self.source_id, "state": self.state,
            "queued_at": iso(self.queued_at), "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at), "error": self.error, "checks": self.checks,
        }


class CheckQueue:
    """At most `capacity` checks waiting and `workers` running; `run(source_id)` does one."""

    def __init__(self, run: Callable[[int], list[dict[str, Any]]], *, workers: int, capacity: int) -> None:
        self._run = run
        self._workers = workers
        self._pending: queue.Queue[CheckJob | None] = queue.Queue(maxsize=capacity)
        self._jobs: OrderedDict[int, CheckJob] = OrderedDict()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._threads: list[threading.Thread] = []

    def submit(self, source_id: int) -> CheckJob:
        """Queue a check of a source; the one already queued or running for it, if any."""
        with self._lock:
            for job in self._jobs.values():
                if job.source_id == source_id and job.state in ("queued", "running"):
                    return job
            job = CheckJob(next(self._ids), source_id)
            try:
                self._pending.put_nowait(job)
            except queue.Full:
                raise Busy(f"{self._pending.maxsize} link checks are waiting already") from None
            self._jobs[job.id] = job
            while len(self._jobs) > _KEEP + self._pending.maxsize:
                oldest = next(iter(self._jobs.values()))
                if oldest.state in ("queued", "running"):
                    break
                self._jobs.popitem(last=False)
            if len(self._threads) < self._workers:
                thread = threading.Thread(target=self._work, name="link-checks", daemon=True)
                self._threads.append(thread)
                thread.start()
        return job

    def get(self, job_id: int) -> CheckJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def close(self) -> None:
        """Let the workers go once the jobs queued so far are done (running ones are not waited for)."""
        for _ in self._threads:
            try:
                self._pending.put_nowait(None)
            except queue.Full:
                break

    def _work(self) -> None:
        while (job := self._pending.get()) is not None:
            job.state, job.started_at = "running", utcnow()
            try:
                job.checks = self._run(job.source_id)
                job.state = "done"
            except Exception as exc:  # a job's failure is its result, never the worker's end
                job.state, job.error = "failed", " ".join(str(exc).split())[:500] or type(exc).__name__
            job.finished_at = utcnow()
