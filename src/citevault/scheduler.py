"""Schedules that survive restarts: recapture and link-check jobs run by APScheduler 3.x, stored by
its SQLAlchemy job store in the index database.

Missed runs (the service was down) are coalesced into one run as soon as the scheduler is back
(`coalesce=True`, no misfire grace limit). The citation policy, switched on by the setting
`default_schedule`, gives every new source: capture now, re-check its links every
`policy_check` (1d), recapture every `policy_recapture` (7d).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select
from sqlalchemy.orm import Session

from citevault.storage.errors import BadInput, NotFound
from citevault.storage.index import closest_capture, timestamp_to_datetime
from citevault.storage.models import Capture, Snapshot, Source

from .archive import Archive
from .config import Settings
from .workqueue import WorkQueue

__all__ = [
    "JOB_TABLE",
    "JobContext",
    "Scheduler",
    "archived_within",
    "open_schedules",
    "parse_duration",
    "schedule_spec",
    "trigger_for",
]

JOB_TABLE = "scheduler_jobs"
_MAX_SPEC = 64  # Source.schedule column
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_log = logging.getLogger(__name__)


# -- schedule strings ------------------------------------------------------------------------------
def parse_duration(text: str) -> timedelta:
    """`90s`, `30m`, `6h`, `1d`, `2w`, or combined (`1h30m`)."""
    t = (text or "").strip().lower().replace(" ", "")
    if not re.fullmatch(r"(\d+[smhdw])+", t):
        raise BadInput(f"bad duration {text!r}: want a number and a unit, e.g. 90s, 30m, 6h, 1d, 2w, 1h30m")
    seconds = sum(int(n) * _UNITS[u] for n, u in re.findall(r"(\d+)([smhdw])", t))
    if seconds < 1:
        raise BadInput(f"bad duration {text!r}: must be at least 1s")
    return timedelta(seconds=seconds)


def _cron(expr: str) -> CronTrigger:
    try:
        return CronTrigger.from_crontab(expr, timezone=UTC)
    except (ValueError, TypeError) as exc:
        raise BadInput(f"bad cron expression {expr!r} (want 5 fields, minute hour day month weekday, "
                       f"in UTC): {exc}") from exc


def schedule_spec(every: str | None = None, cron: str | None = None) -> str | None:
    """The validated schedule as kept in Source.schedule: `every 6h` or `cron 0 3 * * *`."""
    if every and cron:
        raise BadInput("give a recapture interval (every) or a cron expression, not both")
    if every:
        parse_duration(every)
        spec = f"every {every.strip().lower().replace(' ', '')}"
    elif cron:
        _cron(cron)
        spec = "cron " + " ".join(cron.split())
    else:
        return None
    if len(spec) > _MAX_SPEC:
        raise BadInput(f"schedule too long (at most {_MAX_SPEC} characters): {spec!r}")
    return spec


def trigger_for(spec: str) -> BaseTrigger:
    kind, _, arg = spec.partition(" ")
    if kind == "every":
        return IntervalTrigger(seconds=int(parse_duration(arg).total_seconds()), timezone=UTC)
    if kind == "cron":
        return _cron(arg)
    raise BadInput(f"bad schedule {spec!r}: want 'every DURATION' or 'cron EXPRESSION'")


def archived_within(session: Session, url: str, within: timedelta) -> Capture | None:
    """The newest archived capture of `url` if it is younger than `within`."""
    try:
        cap = closest_capture(session, url)
    except NotFound:
        return None
    if timestamp_to_datetime(cap.timestamp) >= datetime.now(UTC) - within:
        return cap
    return None


# -- jobs ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class JobContext:
    """What jobs work with; the executor passes it as their `ctx` argument."""

    archive: Archive
    queue: WorkQueue | None = None


def _need(ctx: JobContext | None) -> JobContext:
    if ctx is None:
        raise RuntimeError("citevault jobs run under citevault's Scheduler, which passes ctx")
    return ctx


def recapture(source_id: int, *, ctx: JobContext | None = None) -> int | None:
    """Queue a new snapshot of a source, unless one is still queued or running."""
    ctx = _need(ctx)
    with ctx.archive.index.session() as s:
        if s.get(Source, source_id) is None:
            _log.warning("recapture: source %s no longer exists", source_id)
            return None
        pending = s.scalar(
            select(Snapshot.id)
            .where(Snapshot.source_id == source_id, Snapshot.state.in_(("queued", "running"))).limit(1)
        )
    if pending is not None:
        return None
    queued = ctx.archive.requeue(source_id, trigger="schedule")
    if ctx.queue is not None:
        ctx.queue.notify([queued.snapshot_id])
    return queued.snapshot_id


def check_links(source_id: int, *, ctx: JobContext | None = None) -> int:
    """Re-check the health of a source's cited links; returns how many were checked."""
    ctx = _need(ctx)
    from .linkrot import check_source  # imported when a check runs: it pulls in the checker

    return len(check_source(ctx.archive, source_id))


def maintain(*, ctx: JobContext | None = None) -> list[int]:
    """Queue again work whose worker was lost (and wake the scheduler to see jobs other processes
    added to the store)."""
    ctx = _need(ctx)
    return ctx.queue.recover() if ctx.queue is not None else []


def stamp(*, ctx: JobContext | None = None) -> int:
    """Ask the TSAs again for timestamps they could not give at capture time."""
    ctx = _need(ctx)
    from .evidence import stamp_pending  # imported when it runs: it pulls in the TSA client

    return stamp_pending(ctx.archive)[0]


_KINDS = {"recapture": recapture, "check": check_links}


class _Bound:
    """A job as `run_job` sees it, its function bound to the context."""

    def __init__(self, job: Any, context: JobContext) -> None:
        self.id = job.id
        self._jobstore_alias = job._jobstore_alias
        self.misfire_grace_time = job.misfire_grace_time
        self.func = functools.partial(job.func, ctx=context)
        self.args = job.args
        self.kwargs = job.kwargs
        self._text = str(job)

    def __str__(self) -> str:
        return self._text


class _ContextExecutor(ThreadPoolExecutor):  # type: ignore[misc]
    """Runs each job as func(*args, ctx=context), so stored jobs hold only plain ids and reach
    the archive without module globals."""

    def __init__(self, context: JobContext, max_workers: int = 4) -> None:
        super().__init__(max_workers)
        self.context = context

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        super()._do_submit_job(_Bound(job, self.context), run_times)


# -- the scheduler ---------------------------------------------------------------------------------
class _Editor(BaseScheduler):  # type: ignore[misc]
    """Job stores opened for editing only: no thread, so it never runs (or consumes) a due job,
    which a paused BackgroundScheduler may do while it shuts down."""

    def wakeup(self) -> None:
        pass

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)


class Scheduler:
    """Recapture and link-check jobs of sources, in the index database's job store. With
    `editing`, it only reads and changes the stored jobs (the CLI, an API without the service)."""

    def __init__(self, archive: Archive, queue: WorkQueue | None = None, *,
                 maintain_every: float = 15.0, editing: bool = False) -> None:
        self.archive = archive
        self.context = JobContext(archive, queue)
        self.maintain_every = maintain_every
        self.editing = editing
        self._aps = (_Editor if editing else BackgroundScheduler)(
            jobstores={
                "default": SQLAlchemyJobStore(engine=archive.index.engine, tablename=JOB_TABLE),
                "internal": MemoryJobStore(),
            },
            executors={"default": _ContextExecutor(self.context)},
            job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
            timezone=UTC,
        )

    # -- lifecycle
    def start(self) -> None:
        self._aps.start(paused=self.editing)
        if not self.editing:
            self._aps.add_job(maintain, "interval", seconds=self.maintain_every, id="maintain",
                              jobstore="internal", replace_existing=True)
            self._aps.add_job(stamp, "interval", seconds=self.archive.settings.tsa_retry_every,
                              id="stamp", jobstore="internal", replace_existing=True)

    def pause(self) -> None:
        if self._aps.running:
            self._aps.pause()

    def shutdown(self) -> None:
        if self._aps.running:
            self._aps.shutdown(wait=False)

    # -- editing
    def set_recapture(self, source_id: int, spec: str) -> str:
        """Recapture the source on a schedule (`every 6h`, `cron 0 3 * * *`); also noted in
        Source.schedule. Returns the job id."""
        with self.archive.index.session() as s:
            src = s.get(Source, source_id)
            if src is None:
                raise NotFound(f"no source with id {source_id}")
            src.schedule = spec
        return self._set("recapture", source_id, spec)

    def set_check(self, source_id: int, spec: str) -> str:
        """Re-check the source's cited links on a schedule. Returns the job id."""
        return self._set("check", source_id, spec)

    def _set(self, kind: str, source_id: int, spec: str) -> str:
        job = self._aps.add_job(
            _KINDS[kind], trigger_for(spec), args=[source_id], id=f"{kind}-{source_id}", name=spec,
            replace_existing=True,
        )
        return str(job.id)

    def apply(self, settings: Settings, source_id: int, spec: str | None) -> list[str]:
        """The schedule a new source gets: `spec` if given; the citation policy when
        `default_schedule` is on (recapture every policy_recapture unless `spec`, and link checks
        every policy_check). Returns the job ids."""
        ids = []
        if settings.default_schedule and spec is None:
            spec = schedule_spec(every=settings.policy_recapture)
        if spec is not None:
            ids.append(self.set_recapture(source_id, spec))
        if settings.default_schedule:
            check = schedule_spec(every=settings.policy_check)
            assert check is not None
            ids.append(self.set_check(source_id, check))
        return ids

    def restore(self, settings: Settings) -> list[str]:
        """Jobs again for every source whose schedule the index keeps but the job store lacks
        (after `reindex` rebuilt the index from the WARC files, or after the migration to one
        source per URL moved a schedule onto the source it kept), and no more jobs of sources the
        index no longer has (that migration's merged duplicates). Run by `reindex` and when the
        service starts. Returns the job ids added."""
        jobs = self._aps.get_jobs(jobstore="default")
        with self.archive.index.session() as s:
            rows = s.execute(select(Source.id, Source.schedule).where(Source.schedule.is_not(None))
                             .order_by(Source.id)).all()
            named = {int(j.args[0]) for j in jobs if j.args and isinstance(j.args[0], int)}
            alive = set(s.scalars(select(Source.id).where(Source.id.in_(named)))) if named else set()
        for job in jobs:
            if job.args and isinstance(job.args[0], int) and job.args[0] not in alive:
                self._aps.remove_job(job.id, jobstore="default")
        have = {str(j.id) for j in jobs}
        added: list[str] = []
        for sid, spec in rows:
            if f"recapture-{sid}" not in have:
                added += self.apply(settings, sid, spec)
        return added

    def jobs(self) -> list[dict[str, Any]]:
        """Every stored job: id, kind, source, schedule, next run (None when paused)."""
        urls: dict[int, str] = {}
        with self.archive.index.session() as s:
            for src_id, url in s.execute(select(Source.id, Source.url)):
                urls[src_id] = url
        out = []
        for job in self._aps.get_jobs(jobstore="default"):
            kind, _, sid = str(job.id).partition("-")
            source_id = int(sid) if sid.isdigit() else None
            nxt = job.next_run_time
            out.append({
                "id": job.id,
                "kind": kind,
                "source_id": source_id,
                "url": urls.get(source_id) if source_id is not None else None,
                "schedule": job.name,
                "next_run": nxt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if nxt else None,
                "paused": nxt is None,
            })
        return sorted(out, key=lambda j: (j["source_id"] or 0, j["kind"]))

    def _select(self, target: str) -> list[str]:
        """Job ids named by `target`: a job id, or a source id (all of its jobs)."""
        ids = [str(j.id) for j in self._aps.get_jobs(jobstore="default")]
        if target in ids:
            return [target]
        if target.isdigit():
            chosen = [i for i in ids if i.partition("-")[2] == target]
            if chosen:
                return chosen
        raise NotFound(f"no schedule {target!r} (give a job id or a source id; see `schedule list`)")

    def pause_jobs(self, target: str) -> list[str]:
        ids = self._select(target)
        for i in ids:
            self._aps.pause_job(i, jobstore="default")
        return ids

    def resume_jobs(self, target: str) -> list[str]:
        ids = self._select(target)
        for i in ids:
            self._aps.resume_job(i, jobstore="default")
        return ids

    def remove_jobs(self, target: str) -> list[str]:
        ids = self._select(target)
        for i in ids:
            self._aps.remove_job(i, jobstore="default")
            kind, _, sid = i.partition("-")
            if kind == "recapture" and sid.isdigit():
                with self.archive.index.session() as s:
                    src = s.get(Source, int(sid))
                    if src is not None:
                        src.schedule = None
        return ids


@contextmanager
def open_schedules(archive: Archive, scheduler: Scheduler | None = None) -> Iterator[Scheduler]:
    """The running scheduler if there is one in this process, else the job store opened for
    editing."""
    if scheduler is not None:
        yield scheduler
        return
    sched = Scheduler(archive, editing=True)
    sched.start()
    try:
        yield sched
    finally:
        sched.shutdown()
