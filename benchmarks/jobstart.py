"""Per-job cost of starting a crawl child (issue 15, targets 1 and 5): one process runs N one-page
captures in a row, as a `citevault worker` does, with crawl children forked from the fork server
(crawler/forkserver.py) or started as new interpreters; CPU of the children (the kernel's
accounting of reaped descendants, the fork server's start included) and wall time per job."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .capture import citevault_env
from .measure import summarize
from .scaleout import PG_ADMIN, _admin
from .webfarm import SiteSpec, WebFarm

__all__ = ["jobstart_bench"]

MODES = ("forkserver", "subprocess")


def _drive(mode: str, jobs: int, seed: str) -> dict[str, Any]:
    """In a fresh process: `jobs` captures of `seed`, one after the other."""
    from citevault.archive import Archive
    from citevault.config import Settings
    from citevault.crawler import forkserver

    if mode == "subprocess":
        forkserver.available = lambda: False  # the path taken where fork servers are unavailable
    walls: list[float] = []
    settings = Settings()
    if mode == "forkserver":
        forkserver.prestart(settings.effective_database_url)  # as `citevault add` and `worker` do
    with Archive(settings) as archive:
        archive.index  # noqa: B018  (created and migrated before the first job is timed)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        for _ in range(jobs):
            start = time.perf_counter()
            done = archive.capture_now([seed], depth=0)
            walls.append(time.perf_counter() - start)
            assert done.queued and not done.interrupted
        forkserver._close_shared()  # its children's CPU reaches us when it is reaped
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"cpu_per_job": cpu / jobs, "walls": walls}


def jobstart_bench(jobs: int, rounds: int, log: Any = print, *, postgres: bool = False,
                   modes: tuple[str, ...] = MODES) -> dict[str, Any]:
    """`postgres`: the index in a scratch PostgreSQL database (as `citevault worker` has it)
    instead of SQLite in the home."""
    spec = SiteSpec(pages=4, hosts=1, delay=0.0, requisites=False)
    seed = spec.page_url(0)
    cpu: dict[str, list[float]] = {m: [] for m in modes}
    wall: dict[str, list[float]] = {m: [] for m in modes}
    with WebFarm(spec) as web:
        for r in range(rounds):
            for mode in modes if r % 2 == 0 else modes[::-1]:
                home = Path(os.environ.get("TMPDIR", "/tmp")) / f"cvbench-jobs-{os.getpid()}-{mode}"
                env = citevault_env(home, web.proxy_url)
                db = f"cvbench_jobs_{os.getpid()}_{mode}" if postgres else ""
                if db:
                    _admin(f'CREATE DATABASE "{db}"')
                    env["CITEVAULT_DATABASE_URL"] = PG_ADMIN.rsplit("/", 1)[0] + f"/{db}"
                try:
                    out = subprocess.run(
                        [sys.executable, "-m", "benchmarks.jobstart", "--drive", mode, str(jobs), seed],
                        env=env, capture_output=True, text=True, check=True, cwd=Path(__file__).parents[1],
                    )
                finally:
                    shutil.rmtree(home, ignore_errors=True)
                    if db:
                        _admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
                got = json.loads(out.stdout.splitlines()[-1])
                cpu[mode].append(got["cpu_per_job"])
                wall[mode] += got["walls"][1:]  # the first job starts the fork server
                median_wall = sorted(got["walls"])[len(got["walls"]) // 2]
                log(f"  jobstart round {r + 1} {mode}: {got['cpu_per_job']:.3f} s CPU per job, "
                    f"wall {median_wall:.2f} s (load {os.getloadavg()[0]:.1f})")
    res: dict[str, Any] = {f"cpu_{m}": summarize(v) for m, v in cpu.items()}
    res.update({f"wall_{m}": summarize(v) for m, v in wall.items()})
    if set(MODES) <= set(modes):
        pairs = zip(cpu["forkserver"], cpu["subprocess"], strict=True)
        res["cpu_ratio"] = summarize([s / f for f, s in pairs])
    return res


if __name__ == "__main__":
    if __package__ in (None, ""):
        sys.exit("run as: python -m benchmarks.jobstart [JOBS] [ROUNDS]")
    if sys.argv[1:2] == ["--drive"]:
        print(json.dumps(_drive(sys.argv[2], int(sys.argv[3]), sys.argv[4])))
        sys.exit(0)
    pg = "--pg" in sys.argv  # the index on the local PostgreSQL, crawl children forked only
    args = [int(a) for a in sys.argv[1:] if a != "--pg"][:2]
    n_jobs, n_rounds = (args + [10, 2][len(args):])[:2]
    print(f"load before: {os.getloadavg()}")
    for key, value in jobstart_bench(n_jobs, n_rounds, postgres=pg, modes=MODES[:1] if pg else MODES).items():
        print(key, value.fmt() if hasattr(value, "fmt") else value)
    print(f"load after: {os.getloadavg()}")
