"""Schedules: durations and cron, the job store surviving restarts (SQLite and PostgreSQL), missed
runs coalesced, recapture and link-check jobs, the citation policy, and the `schedule` and
`add --every/--cron/--if-not-archived-within` commands."""

from __future__ import annotations

import json
import sys
import threading
import time
import types
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from apscheduler.events import EVENT_JOB_EXECUTED, JobExecutionEvent
from sqlalchemy import select, update
from typer.testing import CliRunner

from citevault.archive import Archive
from citevault.cli import get_app
from citevault.config import Settings
from citevault.scheduler import (
    JobContext,
    Scheduler,
    archived_within,
    check_links,
    open_schedules,
    parse_duration,
    recapture,
    schedule_spec,
)
from citevault.storage.errors import BadInput, NotFound
from citevault.storage.index import now_timestamp, surt_key
from citevault.storage.models import Capture, Snapshot, Source
from citevault.workqueue import WorkQueue
from tests.fakeweb import FakeWeb


@pytest.fixture
def archive(home: Path, db_url: str) -> Iterator[Archive]:
    a = Archive(Settings(home=home, database_url=db_url))
    yield a
    a.close()


def _source(archive: Archive, url: str = "https://example.com/story", settle: bool = True) -> int:
    [q] = archive.queue([url], depth=0, trigger="api")
    if settle:
        with archive.index.session() as s:
            s.execute(update(Snapshot).where(Snapshot.id == q.snapshot_id).values(state="done"))
    return q.source_id


def _snapshots(archive: Archive, source_id: int) -> list[tuple[int, str, str]]:
    with archive.index.session() as s:
        return [tuple(r) for r in s.execute(  # type: ignore[misc]
            select(Snapshot.id, Snapshot.trigger, Snapshot.state)
            .where(Snapshot.source_id == source_id).order_by(Snapshot.id)
        )]


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("30m", 1800), ("6h", 21600), ("1d", 86400), ("2w", 1209600), ("1h30m", 5400),
    (" 6H ", 21600),
])
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "6", "h", "6 hours", "-1h", "0s", "1.5h"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(BadInput, match="duration"):
        parse_duration(text)


def test_schedule_spec() -> None:
    assert schedule_spec() is None
    assert schedule_spec(every="6H") == "every 6h"
    assert schedule_spec(cron="0  3 * * *") == "cron 0 3 * * *"
    with pytest.raises(BadInput, match="not both"):
        schedule_spec(every="6h", cron="0 3 * * *")
    with pytest.raises(BadInput, match="cron"):
        schedule_spec(cron="61 3 * * *")
    with pytest.raises(BadInput, match="cron"):
        schedule_spec(cron="every day")


def test_schedules_persist_in_the_database(archive: Archive) -> None:
    sid = _source(archive)
    with open_schedules(archive) as sched:
        assert sched.set_recapture(sid, "every 6h") == f"recapture-{sid}"
        assert sched.set_check(sid, "every 1d") == f"check-{sid}"
    with archive.index.session() as s:
        assert s.scalar(select(Source.schedule).where(Source.id == sid)) == "every 6h"
    # A new scheduler (a restarted service) finds them.
    with open_schedules(archive) as sched:
        jobs = {j["id"]: j for j in sched.jobs()}
        assert set(jobs) == {f"recapture-{sid}", f"check-{sid}"}
        rec = jobs[f"recapture-{sid}"]
        assert (rec["kind"], rec["source_id"], rec["url"], rec["schedule"], rec["paused"]) == (
            "recapture", sid, "https://example.com/story", "every 6h", False)
        nxt = datetime.strptime(rec["next_run"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert timedelta(hours=5, minutes=59) < nxt - datetime.now(UTC) <= timedelta(hours=6)
        # Replacing keeps one job per kind.
        sched.set_recapture(sid, "cron 0 3 * * *")
        assert len(sched.jobs()) == 2
        assert sorted(sched.pause_jobs(str(sid))) == [f"check-{sid}", f"recapture-{sid}"]
    with open_schedules(archive) as sched:
        assert all(j["paused"] and j["next_run"] is None for j in sched.jobs())
        assert sched.resume_jobs(f"check-{sid}") == [f"check-{sid}"]
        states = {j["id"]: j["paused"] for j in sched.jobs()}
        assert states == {f"recapture-{sid}": True, f"check-{sid}": False}
        assert sched.remove_jobs(f"recapture-{sid}") == [f"recapture-{sid}"]
        with pytest.raises(NotFound):
            sched.pause_jobs("999")
    with archive.index.session() as s:
        assert s.scalar(select(Source.schedule).where(Source.id == sid)) is None
    with open_schedules(archive) as sched:
        assert [j["id"] for j in sched.jobs()] == [f"check-{sid}"]


def test_restore_adds_missing_jobs_and_drops_jobs_of_gone_sources(archive: Archive) -> None:
    # What the migration to one source per URL leaves: the kept source has the schedule of a merged
    # duplicate but no job, and the duplicate's jobs name a source that is gone.
    kept, gone = _source(archive), _source(archive, "https://example.com/other")
    with open_schedules(archive) as sched:
        sched.set_recapture(gone, "every 6h")
        sched.set_check(gone, "every 1d")
    with archive.index.session() as s:
        s.execute(update(Source).where(Source.id == kept).values(schedule="every 6h"))
        s.execute(update(Snapshot).where(Snapshot.source_id == gone).values(source_id=kept))
        s.delete(s.get(Source, gone))
    with open_schedules(archive) as sched:
        assert sched.restore(archive.settings) == [f"recapture-{kept}"]
        assert [j["id"] for j in sched.jobs()] == [f"recapture-{kept}"]
        assert sched.restore(archive.settings) == []  # nothing more to do


def test_missed_runs_are_coalesced_into_one_after_downtime(archive: Archive) -> None:
    sid = _source(archive)
    with open_schedules(archive) as sched:
        sched.set_recapture(sid, "every 1h")
        # The service was down for three hours: three runs were missed.
        sched._aps.modify_job(f"recapture-{sid}", jobstore="default",
                              next_run_time=datetime.now(UTC) - timedelta(hours=3, seconds=5))
    runs: list[JobExecutionEvent] = []
    done = threading.Event()

    def listener(event: JobExecutionEvent) -> None:
        if event.job_id == f"recapture-{sid}":
            runs.append(event)
            done.set()

    queue = WorkQueue(archive.index)
    sched = Scheduler(archive, queue)
    sched._aps.add_listener(listener, EVENT_JOB_EXECUTED)
    sched.start()
    try:
        assert done.wait(60), "the missed run did not run after the restart"  # a bound, not a speed
        time.sleep(1.0)  # room for wrongly repeated runs to show up
    finally:
        sched.shutdown()
    assert len(runs) == 1
    assert [t for _, t, _ in _snapshots(archive, sid)] == ["api", "schedule"]
    with open_schedules(archive) as s2:
        [job] = s2.jobs()
    nxt = datetime.strptime(job["next_run"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert nxt > datetime.now(UTC)


def test_recapture_job_queues_unless_one_is_pending(archive: Archive) -> None:
    sid = _source(archive, settle=False)
    queue = WorkQueue(archive.index)
    ctx = JobContext(archive, queue)
    assert recapture(sid, ctx=ctx) is None  # the first snapshot is still queued
    with archive.index.session() as s:
        s.execute(update(Snapshot).where(Snapshot.source_id == sid).values(state="done"))
    new = recapture(sid, ctx=ctx)
    assert new is not None
    assert _snapshots(archive, sid)[-1] == (new, "schedule", "queued")
    assert queue.take(timeout=0.5) is not None
    assert recapture(9999, ctx=ctx) is None  # a source that is gone: nothing happens
    with pytest.raises(RuntimeError):
        recapture(sid)


def test_check_job_calls_the_health_check(archive: Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Archive, int]] = []
    def check_source(a: Archive, sid: int) -> list[str]:
        calls.append((a, sid))
        return ["one", "two"]

    fake = types.ModuleType("citevault.linkrot")
    fake.check_source = check_source  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "citevault.linkrot", fake)
    assert check_links(7, ctx=JobContext(archive)) == 2
    assert calls == [(archive, 7)]


def test_citation_policy(archive: Archive) -> None:
    sid = _source(archive)
    other = _source(archive, "https://example.com/other")
    plain = Settings(home=archive.settings.home)
    policy = Settings(home=archive.settings.home, default_schedule=True)
    with open_schedules(archive) as sched:
        assert sched.apply(plain, sid, None) == []
        assert sched.apply(policy, sid, None) == [f"recapture-{sid}", f"check-{sid}"]
        assert sched.apply(policy, other, "every 6h") == [f"recapture-{other}", f"check-{other}"]
        jobs = {j["id"]: j["schedule"] for j in sched.jobs()}
    assert jobs == {f"recapture-{sid}": "every 7d", f"check-{sid}": "every 1d",
                    f"recapture-{other}": "every 6h", f"check-{other}": "every 1d"}


def test_archived_within(archive: Archive) -> None:
    url = "https://example.com/story"
    sid = _source(archive, url)
    with archive.index.session() as s:
        snap = s.scalar(select(Snapshot.id).where(Snapshot.source_id == sid))
        old = (datetime.now(UTC) - timedelta(hours=30)).strftime("%Y%m%d%H%M%S")
        s.add(Capture(snapshot_id=snap, url=url, surt=surt_key(url), timestamp=old, status=200,
                      warc="x.warc.gz", offset=0, record_type="response", role="seed"))
        # A failed fetch is not an archived copy.
        s.add(Capture(snapshot_id=snap, url=url, surt=surt_key(url), timestamp=now_timestamp(),
                      role="seed", error="timed out"))
    with archive.index.session() as s:
        assert archived_within(s, url, timedelta(hours=24)) is None
        cap = archived_within(s, url, timedelta(hours=48))
        assert cap is not None and cap.timestamp == old
        assert archived_within(s, "https://example.com/never", timedelta(days=999)) is None


# -- the commands ------------------------------------------------------------------------------
def run(*args: str) -> Any:
    return CliRunner().invoke(get_app(), list(args))


@pytest.fixture
def web(web: FakeWeb) -> FakeWeb:
    web.add("http://news.test/a", "<html><head><title>a</title></head><body><p>hello</p></body></html>")
    return web


def test_add_every_then_schedule_commands(web: FakeWeb) -> None:
    res = run("add", "http://news.test/a", "--depth", "0", "--every", "6h", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert set(doc) == {"sources"}  # the add --json contract
    sid = doc["sources"][0]["id"]
    assert doc["sources"][0]["snapshot"]["state"] == "done"
    res = run("schedule", "list", "--json")
    assert res.exit_code == 0, res.output
    [job] = json.loads(res.stdout)["schedules"]
    assert (job["id"], job["source_id"], job["schedule"], job["paused"]) == (
        f"recapture-{sid}", sid, "every 6h", False)
    assert run("show", str(sid), "--json").exit_code == 0
    assert json.loads(run("show", str(sid), "--json").stdout)["schedule"] == "every 6h"
    assert run("schedule", "pause", str(sid)).exit_code == 0
    assert json.loads(run("schedule", "list", "--json").stdout)["schedules"][0]["paused"] is True
    assert run("schedule", "resume", f"recapture-{sid}").exit_code == 0
    assert json.loads(run("schedule", "list", "--json").stdout)["schedules"][0]["paused"] is False
    assert run("schedule", "remove", str(sid)).exit_code == 0
    assert json.loads(run("schedule", "list", "--json").stdout)["schedules"] == []
    res = run("schedule", "remove", str(sid))
    assert res.exit_code == 2 and "no schedule" in res.stderr


def test_add_rejects_bad_schedules_and_changes_nothing(web: FakeWeb) -> None:
    for args in (["--every", "soon"], ["--cron", "0 25 * * *"], ["--every", "1h", "--cron", "0 3 * * *"],
                 ["--if-not-archived-within", "yesterday"]):
        res = run("add", "http://news.test/a", *args)
        assert res.exit_code == 2, args
        assert res.stderr.startswith("citevault: error:"), res.stderr
    assert json.loads(run("list", "--json").stdout)["sources"] == []
    assert web.hits("http://news.test/a") == 0


def test_add_if_not_archived_within_skips_recent_captures(web: FakeWeb) -> None:
    first = run("add", "http://news.test/a", "--depth", "0", "--json")
    assert first.exit_code == 0, first.output
    web.add("http://news.test/b", "<html><body><p>b</p></body></html>")
    res = run("add", "http://news.test/a", "http://news.test/b", "--depth", "0",
              "--if-not-archived-within", "1h", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert [s["url"] for s in doc["sources"]] == ["http://news.test/b"]
    assert [s["url"] for s in doc["skipped"]] == ["http://news.test/a"]
    assert web.hits("http://news.test/a") == 1
    res = run("add", "http://news.test/a", "--depth", "0", "--if-not-archived-within", "1h")
    assert res.exit_code == 0 and "skipped http://news.test/a" in res.stderr
