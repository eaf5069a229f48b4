"""T6 in A/B pairs: `citevault add --scope all HUB` of the latency-bound farm with page indexing
on and off, for one or more builds of citevault (each a `citevault` executable, e.g. main's venv
and a branch's), alternating builds and on/off in every round, the order reversed every other
round. Besides pages/s of the whole command it reports each process's CPU seconds by name, read
from /proc every 50 ms (`citevault-job` the crawl child, `citevault-pagei` the page indexer,
`citevault` the CLI, `citevault-forks` the fork server), so that what indexing costs the crawl
and what the indexer itself uses can be told apart (benchmarks/history/2026-12-07-p-ext7-night.md).

    .venv/bin/python -m benchmarks.extraction_ab --rounds 6 \\
        --build main=/work/main/.venv/bin/citevault --build new=.venv/bin/citevault
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .capture import citevault_env
from .webfarm import SiteSpec, WebFarm

_TICK = os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                todo += [int(c) for c in Path(f"/proc/{p}/task/{task}/children").read_text().split()]
        except OSError:
            pass
    return out


def _cpu(pid: int) -> tuple[str, float] | None:
    """(comm, user + system seconds) of a process, None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return stat[stat.index("(") + 1:stat.rindex(")")], (int(fields[11]) + int(fields[12])) / _TICK


def run_once(citevault: str, web: WebFarm, on: bool) -> dict[str, Any]:
    """One `add`: wall seconds, and CPU seconds per process name (summed over processes)."""
    work = Path(tempfile.mkdtemp(prefix="citevault-ab-"))
    try:
        env = citevault_env(work / "home", web.proxy_url)
        env["CITEVAULT_INDEX_PAGES"] = "1" if on else "0"
        last: dict[int, tuple[str, float]] = {}
        with open(work / "out", "wb") as out, open(work / "err", "wb") as err:
            t0 = time.perf_counter()
            proc = subprocess.Popen([citevault, "add", "--scope", "all", web.spec.hub_url, "--json"],
                                    env=env, stdout=out, stderr=err)
            while proc.poll() is None:
                for pid in _tree(proc.pid):
                    if (seen := _cpu(pid)) is not None:
                        last[pid] = seen
                time.sleep(0.05)
            wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError((work / "err").read_text()[-2000:])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    by_name: dict[str, float] = {}
    for name, cpu in last.values():
        by_name[name] = round(by_name.get(name, 0.0) + cpu, 2)
    return {"wall": round(wall, 2), "cpu": by_name}


def run(builds: dict[str, str], rounds: int, pages: int) -> dict[str, Any]:
    spec = SiteSpec(pages=pages)
    runs: list[dict[str, Any]] = []
    with WebFarm(spec) as web:
        for r in range(rounds):
            order = [(b, on) for b in builds for on in (True, False)]
            for build, on in order if r % 2 == 0 else reversed(order):
                load = os.getloadavg()[0]
                row = {"round": r, "build": build, "indexing": on, "load": round(load, 1),
                       **run_once(builds[build], web, on)}
                print(json.dumps(row), flush=True)
                runs.append(row)
    summary: dict[str, Any] = {}
    for build in builds:
        def pick(on: bool, b: str = build) -> list[dict[str, Any]]:
            return [x for x in runs if x["build"] == b and x["indexing"] is on]

        def cpu(name: str, on: bool) -> float:
            return round(float(statistics.median(x["cpu"].get(name, 0.0) for x in pick(on))), 2)
        ratios = [off["wall"] / on_["wall"] for on_, off in zip(pick(True), pick(False), strict=True)]
        summary[build] = {
            "on/off pages/s per round": [round(x, 3) for x in ratios],
            "on/off median": round(statistics.median(ratios), 3),
            "crawl child cpu s on / off (median)": [cpu("citevault-job", True), cpu("citevault-job", False)],
            "indexer cpu s (median)": cpu("citevault-pagei", True),
        }
    return {"runs": runs, "summary": summary}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", action="append", required=True, metavar="NAME=CITEVAULT",
                    help="a name and the citevault executable of one build; repeat for each")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--pages", type=int, default=500)
    args = ap.parse_args()
    builds = dict(b.split("=", 1) for b in args.build)
    print(json.dumps(run(builds, args.rounds, args.pages)["summary"], indent=2))


if __name__ == "__main__":
    main()
