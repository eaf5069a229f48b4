"""Scale-out (target 5): `citevault worker` processes against the local PostgreSQL and Redis,
capturing articles that each cite 10 pages on a latency-bound fake web (every response delayed),
with 1, 2 and 4 workers. Throughput, its ratio to one worker, and a check that every expected URL
was captured exactly once per snapshot and every snapshot ran once.
`python -m benchmarks.scaleout [--articles 60] [--workers 1,2,4] [--delay 0.1]`."""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from .capture import _BIN, _scratch, citevault_env
from .measure import summarize
from .webfarm import SiteSpec, WebFarm, stats_delta

__all__ = ["scaleout_bench"]

PG_ADMIN = os.environ.get("CITEVAULT_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS = os.environ.get("CITEVAULT_BENCH_REDIS", "redis://127.0.0.1:6379/14")


def _admin(sql: str) -> None:
    from sqlalchemy import create_engine, text

    eng = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with eng.connect() as conn:
            conn.execute(text(sql))
    finally:
        eng.dispose()


def _db_stats(name: str) -> dict[str, float]:
    """What the run cost the database server, from pg_stat_database once every session to it has
    ended (a backend reports its counts as it exits): sessions opened, transactions, and the
    seconds its backends spent executing statements (PostgreSQL's own CPU is not in the tree)."""
    from sqlalchemy import create_engine, text

    eng = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with eng.connect() as conn:
            deadline = time.monotonic() + 10
            while conn.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE datname = :n"), {"n": name}):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            time.sleep(0.2)  # the last backend's counts land as it exits
            conn.execute(text("SELECT pg_stat_clear_snapshot()"))
            row = conn.execute(text(
                "SELECT sessions, xact_commit + xact_rollback, active_time FROM pg_stat_database "
                "WHERE datname = :n"), {"n": name}).one()
    finally:
        eng.dispose()
    return {"sessions": row[0], "xacts": row[1], "active_s": row[2] / 1000}


def _cpu_of(pid: int) -> float:
    """User + system seconds of a live process and its live descendants (/proc), so that
    workers killed at the end still count."""
    from .measure import _children

    total, todo = 0.0, [pid]
    tick = os.sysconf("SC_CLK_TCK")
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / tick
        except (OSError, IndexError, ValueError):
            continue
        todo += _children(p)
    return total


def _one(spec: SiteSpec, web: WebFarm, workers: int, log: Any) -> dict[str, Any]:
    from sqlalchemy import func, select

    from citevault.archive import Archive
    from citevault.config import Settings
    from citevault.storage.models import Capture, Snapshot
    from citevault.workqueue import open_workqueue

    name = f"cvbench_scale_{uuid.uuid4().hex[:10]}"
    db_url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    work = _scratch("scale")
    _admin(f'CREATE DATABASE "{name}"')
    procs: list[subprocess.Popen[bytes]] = []
    try:
        env = citevault_env(work / "home", web.proxy_url) | {
            "CITEVAULT_DATABASE_URL": db_url, "CITEVAULT_REDIS_URL": REDIS,
            "CITEVAULT_REDIS_PREFIX": name, "CITEVAULT_WORKERS": "1",
        }
        settings = Settings(home=work / "home", database_url=db_url, redis_url=REDIS, redis_prefix=name,
                            allow_private_networks=True)
        articles = [spec.article_url(k) for k in range(spec.articles)]
        with Archive(settings) as archive:
            queue = open_workqueue(settings, archive.index)
            before = web.stats()
            t0 = time.perf_counter()
            for _ in range(workers):
                procs.append(subprocess.Popen(
                    [str(_BIN / "citevault"), "worker"], env=env,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                ))
            done = archive.submit(articles, depth=1, scope="cited", trigger="api", notify=queue)
            ids = [q.snapshot_id for q in done.queued]
            cpu = 0.0
            while True:
                with archive.index.session() as s:
                    left = s.scalar(select(func.count()).select_from(Snapshot).where(
                        Snapshot.id.in_(ids), Snapshot.state.in_(("queued", "running"))))
                cpu = max(cpu, sum(_cpu_of(p.pid) for p in procs))
                if not left:
                    break
                if time.perf_counter() - t0 > 1800:
                    raise RuntimeError(f"{left} snapshots still unfinished after 30 minutes")
                time.sleep(0.2)
            wall = time.perf_counter() - t0
            delta = stats_delta(before, web.stats())
            with archive.index.session() as s:
                snaps = {sn.id: sn for sn in s.scalars(select(Snapshot).where(Snapshot.id.in_(ids)))}
                rows = s.execute(select(Capture.snapshot_id, Capture.url, Capture.warc).where(
                    Capture.snapshot_id.in_(ids))).all()
                by_url = {sn.id: sn.source.url for sn in snaps.values()}
            queue.close()
        seen: dict[tuple[int, str], int] = {}
        for sid, url, warc in rows:
            if warc:
                seen[(sid, url)] = seen.get((sid, url), 0) + 1
        twice = sum(1 for n in seen.values() if n > 1)
        expected = {k: spec.article_urls(k) for k in range(spec.articles)}
        missed = 0
        for sid, url in by_url.items():
            k = articles.index(url)
            missed += sum(1 for u in expected[k] if (sid, u) not in seen)
        job_s, gap_s = _job_times(list(snaps.values()))
        states = [sn.state for sn in snaps.values()]
        reruns = sum(1 for sn in snaps.values() if sn.attempts != 1)
        urls = sum(seen.values())
        res = {
            "workers": workers, "wall": wall, "cpu": cpu, "urls": urls,
            "urls_per_s": urls / wall, "articles_per_min": 60 * len(ids) / wall,
            "twice": twice, "missed": missed, "reruns": reruns,
            "not_done": sum(1 for st in states if st != "done"), "requests": delta["requests"],
            "expected": sum(len(v) for v in expected.values()),
            "job_s": job_s, "gap_s": gap_s,
        }
        _stop(procs)
        db = _db_stats(name)
        res.update({f"db_{k}_per_job": v / len(ids) for k, v in db.items()})
        res["load"] = os.getloadavg()[0]
        log(f"  scaleout {workers} worker(s): {wall:.1f} s, {res['urls_per_s']:.1f} URLs/s, "
            f"{urls} of {res['expected']} URLs, twice {twice}, missed {missed}, reruns {reruns}, "
            f"not done {res['not_done']}, CPU {cpu:.1f} s ({1000 * cpu / len(ids):.0f} ms a job); "
            f"database per job: {db['sessions'] / len(ids):.2f} sessions, "
            f"{db['xacts'] / len(ids):.1f} transactions, {1000 * db['active_s'] / len(ids):.1f} ms "
            f"active; median job {1000 * job_s:.0f} ms, between a worker's jobs {1000 * gap_s:.0f} ms "
            f"(load {res['load']:.1f})")
        return res
    finally:
        _stop(procs)
        shutil.rmtree(work, ignore_errors=True)
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _job_times(snaps: list[Any]) -> tuple[float, float]:
    """Medians of a snapshot's crawl (its spider opened to its settling) and of a worker's time
    between two jobs (settled to the next one's spider opened: the crawl child's exit with the
    page indexer's last pass, the claim, the fork and the crawl's set-up), from the index."""
    jobs, gaps = [], []
    by_worker: dict[str, list[Any]] = {}
    for sn in snaps:
        if sn.started_at and sn.finished_at:
            jobs.append((sn.finished_at - sn.started_at).total_seconds())
            by_worker.setdefault(sn.claimed_by or "", []).append(sn)
    for done in by_worker.values():
        done.sort(key=lambda sn: sn.started_at)
        gaps += [(b.started_at - a.finished_at).total_seconds() for a, b in itertools.pairwise(done)]
    return (summarize(jobs).median if jobs else 0.0), (summarize(gaps).median if gaps else 0.0)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def scaleout_bench(
    articles: int = 60, worker_counts: tuple[int, ...] = (1, 2, 4), delay: float = 0.1,
    rounds: int = 1, log: Any = print,
) -> dict[str, Any]:
    """Each worker count `rounds` times on one fake web; ratios to the one-worker median."""
    spec = replace(SiteSpec(pages=10 * articles), articles=articles, delay=delay)
    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in worker_counts}
    with WebFarm(spec) as web:
        for _ in range(rounds):
            for n in worker_counts:
                runs[n].append(_one(spec, web, n, log))
    base = summarize([r["urls_per_s"] for r in runs[worker_counts[0]]]).median
    return {
        "spec": spec, "articles": articles, "delay": delay,
        "rows": [{
            "workers": n, "wall": summarize([r["wall"] for r in rs]),
            "urls_per_s": summarize([r["urls_per_s"] for r in rs]),
            "ratio": summarize([r["urls_per_s"] / base for r in rs]),
            "cpu": summarize([r["cpu"] for r in rs]),
            "twice": sum(r["twice"] for r in rs), "missed": sum(r["missed"] for r in rs),
            "reruns": sum(r["reruns"] for r in rs), "not_done": sum(r["not_done"] for r in rs),
            "urls": rs[-1]["urls"], "expected": rs[-1]["expected"],
        } for n, rs in runs.items()],
    }


if __name__ == "__main__":
    if __package__ in (None, ""):
        sys.exit("run as: python -m benchmarks.scaleout [--articles N] [--workers 1,2,4]")
    ap = argparse.ArgumentParser()
    ap.add_argument("--articles", type=int, default=60)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--delay", type=float, default=0.1)
    a = ap.parse_args()
    out = scaleout_bench(a.articles, tuple(int(x) for x in a.workers.split(",")), a.delay)
    for row in out["rows"]:
        print({k: v.fmt() if hasattr(v, "fmt") else v for k, v in row.items()})
