"""End to end: the real `citevault serve` on a free port, fetching through the fake web, driven over
HTTP. Schedules fire and recapture unchanged pages as revisits; schedules and queued work survive a
restart; SIGTERM during a slow capture leaves only complete records indexed and the work resumes."""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import redis
from sqlalchemy import select
from warcio.archiveiterator import ArchiveIterator

from citevault.archive import Archive
from citevault.config import Settings
from citevault.storage.db import open_index
from citevault.storage.models import Capture, Snapshot
from citevault.storage.warcreader import resolve_path
from citevault.workqueue import open_workqueue
from tests.fakeweb import FakeWeb

pytestmark = pytest.mark.slow
T = TypeVar("T")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, fn: Callable[[], T | None], timeout: float = 60.0, every: float = 0.25) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:g}s waiting for {what}")


class Served:
    """One `citevault serve` subprocess; its output goes to a log file shown on failure."""

    def __init__(self, tmp: Path, **env: str) -> None:
        self.port = _free_port()
        self.env = {**os.environ, **env}
        self.log = tmp / f"serve-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        # Talk to the service directly, never through the fake web's proxy.
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", trust_env=False, timeout=10)

    def start(self) -> Served:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", "from citevault.cli import main; main()", "serve",
                 "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so that crash() takes the captures too
            )
        wait_for("the service to answer /healthz", self._healthy, timeout=60)
        return self

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            pytest.fail(f"serve exited with {self.proc.returncode}:\n{self.log.read_text()}")
        try:
            return self.http.get("/healthz").status_code == 200
        except httpx.TransportError:
            return False

    def get(self, path: str, **kw: Any) -> Any:
        res = self.http.get(path, **kw)
        assert res.status_code == 200, res.text
        return res.json()

    def post_source(self, **body: Any) -> dict[str, Any]:
        res = self.http.post("/api/sources", json=body)
        assert res.status_code == 202, res.text
        doc: dict[str, Any] = res.json()
        return doc

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, then wait; returns the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"serve did not stop within {timeout:g}s after SIGTERM:\n{self.log.read_text()}")
        self.proc = None
        return code

    def crash(self) -> None:
        """SIGKILL the service and its capture processes, as a power cut would."""
        assert self.proc is not None
        # Capture children run in sessions of their own (and would stop by themselves when the
        # service dies, settling their snapshot): a power cut takes them down at the same time,
        # and the fork server's children (crawler/forkserver.py) with them.
        found: list[str] = []
        todo = [str(self.proc.pid)]
        while todo:
            out = subprocess.run(["pgrep", "-P", str(todo.pop())], capture_output=True, text=True)
            todo += out.stdout.split()
            found += out.stdout.split()
        os.killpg(self.proc.pid, signal.SIGKILL)
        for pid in found:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.http.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def start(**env: str) -> Served:
        s = Served(tmp_path, **env).start()
        started.append(s)
        return s

    yield start
    for s in started:
        s.close()


def _article(words: int) -> str:
    rng = random.Random(7)
    vocab = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 10)))
             for _ in range(3000)]
    paras = "".join("<p>" + " ".join(rng.choice(vocab) for _ in range(80)) + "</p>\n"
                    for _ in range(words // 80))
    return f"<html><head><title>Long read</title></head><body><article>{paras}</article></body></html>"


def _evidence_bytes(path: Path) -> int:
    """Bytes of the evidence records (provenance, manifest, timestamps) in a WARC file."""
    total = 0
    with open(path, "rb") as fh:
        it = ArchiveIterator(fh)
        for rec in it:
            evidence = rec.rec_headers.get_header("WARC-Citevault-Evidence")
            it.read_to_end()
            if evidence:
                total += it.get_record_length()
    return total


def _finished(svc: Served, snapshot_id: int) -> dict[str, Any] | None:
    snap: dict[str, Any] = svc.get(f"/api/snapshots/{snapshot_id}")
    return snap if snap["state"] in ("done", "partial", "failed") else None


def _snapshots(svc: Served, source_id: int) -> list[dict[str, Any]]:
    snaps: list[dict[str, Any]] = svc.get(f"/api/sources/{source_id}")["snapshots"]
    return snaps


def test_api_capture_and_schedule_recaptures_as_revisits(web: FakeWeb, served: Callable[..., Served],
                                                         home: Path) -> None:
    url = "http://longread.test/story"
    body = _article(30_000)
    web.add(url, body)
    svc = served(CITEVAULT_WORKERS="1")
    doc = svc.post_source(url=url, depth=0, every="1s")
    assert doc["schedule"] == "every 1s" and doc["state"] == "queued"
    sid = doc["source_id"]
    first = wait_for("the first capture", lambda: _finished(svc, doc["snapshot_id"]))
    assert first["state"] == "done", first

    def three_done() -> list[dict[str, Any]] | None:
        done = [s for s in _snapshots(svc, sid) if s["state"] == "done"]
        return done if len(done) >= 3 else None

    done = wait_for("two scheduled recaptures", three_done)
    assert svc.stop() == 0

    assert [s["trigger"] for s in done[:3]] == ["api", "schedule", "schedule"]
    seeds = [next(c for c in s["captures"] if c["role"] == "seed") for s in done[:3]]
    assert [c["record_type"] for c in seeds] == ["response", "revisit", "revisit"]
    assert web.hits(url) >= 3
    # Storage growth of an unchanged recapture: its WARC file against the first one's.
    warcs = home / "warcs"
    # The snapshot's evidence (provenance and manifest records, ~2.4 KB whatever the page) is a
    # fixed cost per snapshot, not growth of the payload: it is left out of the comparison.
    sizes = [resolve_path(warcs, c["warc"]).stat().st_size - _evidence_bytes(resolve_path(warcs, c["warc"]))
             for c in seeds]
    assert len({c["warc"] for c in seeds}) == 3
    assert sizes[1] < 0.05 * sizes[0] and sizes[2] < 0.05 * sizes[0], sizes
    assert first["bytes_written"] > 20 * done[1]["bytes_written"]
    # The revisit resolves to the original payload.
    archive = Archive(Settings(home=home))
    cap, rec = archive.get(url)
    assert cap.record_type == "revisit" and rec.decoded == body.encode()
    archive.close()


def test_restart_keeps_schedules_and_queued_work(web: FakeWeb, served: Callable[..., Served]) -> None:
    url = "http://restart.test/page"
    web.add(url, "<html><head><title>r</title></head><body><p>unchanged</p></body></html>")
    # First run: API and scheduler only, no workers, so the capture stays queued.
    svc = served(CITEVAULT_WORKERS="0")
    doc = svc.post_source(url=url, depth=0, every="1s")
    sid, first = doc["source_id"], doc["snapshot_id"]
    [job] = svc.get("/api/schedules")["schedules"]

    def fired() -> bool:  # its next run (to the second) moved two periods on: it ran, twice
        [now] = svc.get("/api/schedules")["schedules"]  # unless a late run was coalesced
        return bool(now["next_run"] >= _plus_seconds(job["next_run"], 2))

    wait_for("the schedule to fire", fired, every=0.1)
    # It fired, but the first capture is still pending: nothing piles up.
    assert [(s["id"], s["state"]) for s in _snapshots(svc, sid)] == [(first, "queued")]
    assert [j["id"] for j in svc.get("/api/schedules")["schedules"]] == [f"recapture-{sid}"]
    assert svc.stop() == 0
    assert web.hits(url) == 0

    svc = served(CITEVAULT_WORKERS="1")
    assert [j["id"] for j in svc.get("/api/schedules")["schedules"]] == [f"recapture-{sid}"]
    wait_for("the queued capture to run after the restart",
             lambda: svc.get(f"/api/snapshots/{first}")["state"] == "done")
    wait_for("the schedule to fire after the restart", lambda: any(
        s["trigger"] == "schedule" and s["state"] == "done" for s in _snapshots(svc, sid)))
    assert svc.stop() == 0


def _plus_seconds(stamp: str, seconds: int) -> str:
    """An API time (`2026-12-07T10:00:00Z`) that many seconds later, in the same form."""
    at = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ") + timedelta(seconds=seconds)
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _state(home: Path, snapshot_id: int) -> str | None:
    index = open_index(f"sqlite:///{home / 'citevault.db'}", migrate=False)
    with index.session() as s:
        state = s.scalar(select(Snapshot.state).where(Snapshot.id == snapshot_id))
    index.dispose()
    return state


def _assert_complete_records(home: Path) -> None:
    """Every indexed record is complete: readable by warcio, payload digest as indexed."""
    index = open_index(f"sqlite:///{home / 'citevault.db'}", migrate=False)
    with index.session() as s:
        caps = s.scalars(select(Capture).where(Capture.warc.is_not(None))).all()
    index.dispose()
    assert any(c.role == "seed" for c in caps)
    for c in caps:
        assert c.warc is not None and c.offset is not None
        with open(resolve_path(home / "warcs", c.warc), "rb") as fh:
            fh.seek(c.offset)
            rec = next(iter(ArchiveIterator(fh)))
            assert rec.rec_headers.get_header("WARC-Target-URI") == c.url
            payload = rec.raw_stream.read()
            if rec.rec_type == "response":
                assert hashlib.sha256(payload).hexdigest() == c.sha256 and len(payload) == c.length


def _slow_article(web: FakeWeb, delay: float) -> tuple[str, str]:
    article, slow = "http://news.test/article", "http://slow.test/report"
    web.add(article, '<html><head><title>a</title></head><body><article><p>As the '
            f'<a href="{slow}">report</a> shows, and more words.</p></article></body></html>')
    web.add(slow, "<html><body><p>the report</p></body></html>", delay=delay)
    return article, slow


def _set_once_settled(event: threading.Event, state: Callable[[], str | None]) -> None:
    """Set `event` once the snapshot whose `state` this reads is no longer running (the stopping
    worker settled it), or once `event` is set anyway; within a bound, in a thread of the test."""
    deadline = time.monotonic() + 120
    while not event.is_set() and state() == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    event.set()


def _wait_until_in_flight(svc: Served, web: FakeWeb, snapshot_id: int, slow: str) -> None:
    wait_for("the seed page to be captured and the slow page requested", lambda: web.hits(slow) and any(
        c["role"] == "seed" for c in svc.get(f"/api/snapshots/{snapshot_id}")["captures"]))


def test_sigterm_during_a_slow_capture(web: FakeWeb, served: Callable[..., Served], home: Path) -> None:
    # Still in flight when SIGTERM comes, it answers once the stopping worker has settled the
    # capture, so the child's graceful stop ends with its WARC file closed. (It answered after
    # 4 s: on a busy machine the capture could reach it too late for SIGTERM to find it in
    # flight, or the stop come too late, and the capture was done.)
    article, slow = _slow_article(web, delay=0)
    settled = threading.Event()
    web.add(slow, lambda req: "<html><body><p>the report</p></body></html>" if settled.wait(120) else None)
    svc = served(CITEVAULT_WORKERS="1", CITEVAULT_SHUTDOWN_GRACE="0.5")
    snap_id = svc.post_source(url=article, depth=1)["snapshot_id"]
    _wait_until_in_flight(svc, web, snap_id, slow)
    watcher = threading.Thread(target=_set_once_settled, args=(settled, lambda: _state(home, snap_id)))
    watcher.start()
    try:
        # The bound is stop's: a hang fails the test, a busy machine's slow stop does not (it
        # asserted under 20 s of wall time, most of which a loaded machine can take).
        assert svc.stop(timeout=60) == 0
    finally:
        settled.set()
        watcher.join()

    assert _state(home, snap_id) == "queued"
    assert not list((home / "warcs").glob("*.open")), "a WARC file was left open"
    _assert_complete_records(home)

    web.add(slow, "<html><body><p>the report</p></body></html>")
    svc = served(CITEVAULT_WORKERS="1")
    snap = wait_for("the interrupted capture to finish after the restart", lambda: _finished(svc, snap_id))
    assert snap["state"] == "done", snap
    assert any(c["url"] == slow and c["status"] == 200 for c in snap["captures"])
    assert svc.stop() == 0


def test_distributed_worker_takes_work_from_redis(web: FakeWeb, home: Path, tmp_path: Path,
                                                  redis_url: str) -> None:
    url = "http://worker.test/page"
    web.add(url, "<html><head><title>w</title></head><body><p>by a worker</p></body></html>")
    prefix = f"cvtest-{uuid.uuid4().hex[:10]}"
    settings = Settings(home=home, redis_url=redis_url, redis_prefix=prefix)
    archive = Archive(settings)
    queue = open_workqueue(settings, archive.index)
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from citevault.cli import main; main()", "worker"],
            env={**os.environ, "CITEVAULT_REDIS_URL": redis_url, "CITEVAULT_REDIS_PREFIX": prefix,
                 "CITEVAULT_WORKERS": "1"},
            stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        [q] = archive.queue([url], depth=0, trigger="api")
        queue.notify([q.snapshot_id])

        def settled() -> str | None:
            with archive.index.session() as s:
                state = s.scalar(select(Snapshot.state).where(Snapshot.id == q.snapshot_id))
            return state if state in ("done", "partial", "failed") else None

        assert wait_for("the worker to capture the page", settled, timeout=60) == "done", log.read_text()
        with archive.index.session() as s:
            owner = s.scalar(select(Snapshot.claimed_by).where(Snapshot.id == q.snapshot_id))
        assert owner is not None and owner.endswith(f":{proc.pid}")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        queue.close()
        redis.Redis.from_url(redis_url).delete(f"{prefix}:captures")
        archive.close()


def test_work_lost_in_a_crash_is_settled_and_runs_afresh_after_restart(
    web: FakeWeb, served: Callable[..., Served], home: Path
) -> None:
    article, slow = _slow_article(web, delay=30)
    svc = served(CITEVAULT_WORKERS="1")
    snap_id = svc.post_source(url=article, depth=1)["snapshot_id"]
    _wait_until_in_flight(svc, web, snap_id, slow)
    svc.crash()
    assert _state(home, snap_id) == "running"  # nobody said otherwise
    _assert_complete_records(home)  # even in the WARC file the crash left open

    web.add(slow, "<html><body><p>the report</p></body></html>")
    svc = served(CITEVAULT_WORKERS="1")
    # The lost snapshot is settled from what it captured (never re-run into itself, which
    # would capture its pages twice), and a fresh snapshot of the source runs in its place.
    lost = wait_for("the lost capture to be settled", lambda: _finished(svc, snap_id))
    assert lost["state"] == "partial" and lost["error"].startswith("interrupted"), lost
    urls = [c["url"] for c in lost["captures"]]
    assert len(urls) == len(set(urls))
    source_id = lost["source_id"]
    snap = wait_for("a fresh capture to run", lambda: next(
        (s for s in _snapshots(svc, source_id) if s["id"] != snap_id and s["state"] == "done"), None))
    snap = svc.get(f"/api/snapshots/{snap['id']}")
    assert any(c["url"] == slow and c["status"] == 200 for c in snap["captures"])
    assert svc.stop() == 0
    _assert_complete_records(home)


def test_serve_refuses_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = subprocess.run(
            [sys.executable, "-c", "from citevault.cli import main; main()", "serve", "--port", str(port)],
            capture_output=True, text=True, timeout=60,
        )
    assert res.returncode == 2
    want = f"citevault: error: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert res.stderr.strip() == want


def test_serve_starts_the_crawl_fork_server_for_many_jobs_with_the_index(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`serve` starts its crawl fork server as `worker` does, before the service's threads: with
    the index's URL (on PostgreSQL the children's engine is made ready once) and for many jobs
    (the stop lists built once); before, it started on the first capture without either."""
    from typer.testing import CliRunner

    import citevault.service
    from citevault.cli import get_app
    from citevault.crawler import forkserver

    calls: list[tuple[str, str, bool]] = []

    def prestart(database_url: str = "", *, many_jobs: bool = False) -> None:
        calls.append(("prestart", database_url, many_jobs))

    def run_service(cfg: Settings, out: Callable[[str], None]) -> int:
        calls.append(("run", cfg.effective_database_url, False))
        return 0

    monkeypatch.setattr(forkserver, "prestart", prestart)
    monkeypatch.setattr(citevault.service, "run_service", run_service)
    result = CliRunner().invoke(get_app(), ["serve", "--port", "8123"])
    assert result.exit_code == 0, result.output
    [(first, url, many), (then, run_url, _)] = calls
    assert (first, then) == ("prestart", "run") and many and url == run_url != ""
