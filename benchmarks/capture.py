"""Capture benchmarks: latency-bound throughput against wget (1), CPU per page against a plain
Scrapy spider (2), bytes added by an unchanged recapture (5), peak memory by crawl size (6)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .floor import network_floor
from .measure import Run, run_measured, summarize
from .webfarm import SiteSpec, WebFarm, stats_delta

__all__ = [
    "Side",
    "WGET",
    "citevault_env",
    "compile_citevault",
    "cpu_bench",
    "latency_bench",
    "memory_bench",
    "storage_bench",
]

WGET = "/usr/bin/wget"
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
_BIN = Path(sys.executable).parent
_PROXY_VARS = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "all_proxy")


def default_concurrency() -> tuple[int, int]:
    """citevault's defaults (CITEVAULT_CONCURRENCY, CITEVAULT_CONCURRENCY_PER_HOST)."""
    from citevault.config import Settings

    fields = Settings.model_fields
    return int(fields["concurrency"].default), int(fields["concurrency_per_host"].default)


def compile_citevault() -> None:
    """Write the bytecode of citevault's own modules, as an install does (pip compiles a wheel's
    files; Scrapy's in site-packages all have theirs). An editable checkout compiles on import,
    and the runs here set PYTHONDONTWRITEBYTECODE (as this machine's shell does): without this,
    every run would compile all of citevault from source, about 0.2 s of start-up CPU that no
    installed copy pays."""
    import compileall

    import citevault
    import citevault.crawler
    import citevault.storage

    for pkg in (citevault, citevault.crawler, citevault.storage):
        compileall.compile_dir(str(Path(pkg.__file__ or "").parent), quiet=1, workers=0)


def citevault_env(home: Path, proxy: str) -> dict[str, str]:
    """A clean environment: only this run's home and proxy, default concurrency."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEVAULT_") and k not in _PROXY_VARS}
    conc, per_host = default_concurrency()
    env.update({
        "CITEVAULT_HOME": str(home),
        "CITEVAULT_ALLOW_PRIVATE_NETWORKS": "1",
        "CITEVAULT_CONCURRENCY": str(conc),
        "CITEVAULT_CONCURRENCY_PER_HOST": str(per_host),
        "http_proxy": proxy,
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    return env


@dataclass
class Side:
    """Rounds of one tool on one comparison."""

    name: str
    runs: list[Run] = field(default_factory=list)
    web: list[dict[str, Any]] = field(default_factory=list)  # fake-web deltas per round
    notes: list[str] = field(default_factory=list)


def _citevault_add(home: Path, web: WebFarm, *args: str, env: dict[str, str] | None = None
                   ) -> tuple[Run, dict[str, Any]]:
    before = web.stats(reset_peaks=True)  # the in-flight peaks after the run are this run's
    run = run_measured(
        [str(_BIN / "citevault"), "add", *args, "--json"],
        env=citevault_env(home, web.proxy_url) | (env or {}),
    )
    delta = stats_delta(before, web.stats())
    if run.returncode != 0:
        raise RuntimeError(f"citevault add failed ({run.returncode}): {run.stderr[-2000:]}")
    doc = json.loads(run.stdout)
    caps = [c for s in doc["sources"] for c in s["snapshot"]["captures"]]
    delta["archived"] = sum(1 for c in caps if c["warc"])
    delta["failed"] = sum(1 for c in caps if c["error"])
    return run, delta


def _wget(workdir: Path, web: WebFarm, url: str) -> tuple[Run, dict[str, Any]]:
    if not Path(WGET).exists():
        raise RuntimeError("wget is missing: install it with `sudo apt-get install -y wget`")
    before = web.stats()
    env = {k: v for k, v in os.environ.items() if k not in _PROXY_VARS} | {"http_proxy": web.proxy_url}
    run = run_measured(
        [WGET, "-q", "-e", "use_proxy=on", "-e", f"http_proxy={web.proxy_url}", "-e", "robots=off",
         "--page-requisites", "--span-hosts", "--level=1", "--recursive",
         f"--warc-file={workdir / 'wget'}", "-P", str(workdir / "files"), url],
        env=env, cwd=workdir,
    )
    delta = stats_delta(before, web.stats())
    delta["archived"] = delta["requests"]
    # wget exits 8 when any response was an error status; the site has none, so any code is news.
    if run.returncode != 0:
        delta["note"] = f"wget exit code {run.returncode}"
    return run, delta


def _scrapy_floor(workdir: Path, web: WebFarm, urls: list[str]) -> tuple[Run, dict[str, Any]]:
    conc, per_host = default_concurrency()
    url_file = workdir / "urls.txt"
    url_file.write_text("\n".join(urls) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in _PROXY_VARS} | {"http_proxy": web.proxy_url}
    before = web.stats()
    run = run_measured(
        [sys.executable, str(HERE / "scrapy_floor.py"), str(url_file), str(conc), str(per_host)], env=env,
    )
    delta = stats_delta(before, web.stats())
    if run.returncode != 0:
        raise RuntimeError(f"the Scrapy floor spider failed: {run.stderr[-2000:]}")
    delta["archived"] = int(run.stdout.split()[-1])
    return run, delta


def _scratch(tag: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"cvbench-{tag}-"))


def _dir_bytes(path: Path, pattern: str = "*") -> int:
    return sum(p.stat().st_size for p in path.glob(pattern) if p.is_file())


# -- (1) latency-bound ---------------------------------------------------------------------------
def latency_bench(spec: SiteSpec, rounds: int, log: Any = print) -> dict[str, Any]:
    """`citevault add --scope all HUB` against wget's recursive WARC capture of the same hub,
    alternating which goes first, so drift in machine load hits both alike."""
    cv, wg = Side("citevault"), Side("wget")
    expected = len(spec.all_urls())
    with WebFarm(spec) as web:
        for r in range(rounds):
            order = [cv, wg] if r % 2 == 0 else [wg, cv]
            for side in order:
                work = _scratch("lat")
                try:
                    if side is cv:
                        run, delta = _citevault_add(work / "home", web, "--scope", "all", spec.hub_url)
                    else:
                        run, delta = _wget(work, web, spec.hub_url)
                finally:
                    shutil.rmtree(work, ignore_errors=True)
                if delta["archived"] != expected:
                    side.notes.append(f"round {r + 1}: {delta['archived']} of {expected} URLs archived")
                side.runs.append(run)
                side.web.append(delta)
                log(f"  latency round {r + 1} {side.name}: {run.wall:.1f} s, {delta['requests']} requests, "
                    f"fake web CPU {100 * delta['cpu_share']:.0f}%")
    out: dict[str, Any] = {"spec": spec, "expected_urls": expected,
                           "floor": network_floor(spec, *default_concurrency())}
    for side in (cv, wg):
        pps = [spec.pages / r.wall for r in side.runs]
        mbps = [d["body_bytes"] / 1e6 / r.wall for r, d in zip(side.runs, side.web, strict=True)]
        out[side.name] = {
            "pages_per_s": summarize(pps), "mb_per_s": summarize(mbps),
            "wall": summarize([r.wall for r in side.runs]),
            "web_cpu_share": summarize([d["cpu_share"] for d in side.web]),
            "notes": side.notes, "raw_pps": pps,
        }
    out["ratio"] = summarize([w.wall / c.wall for c, w in zip(cv.runs, wg.runs, strict=True)])
    out["over_floor"] = summarize([r.wall / out["floor"]["floor"] for r in cv.runs])
    # Most requests the fake web had in flight at once, per host and in all (any round): the
    # per-host limit is enforced when the first is at most the configured limit.
    out["peak_per_host"] = max(max(d["peak_inflight_by_host"].values(), default=0) for d in cv.web)
    out["peak_inflight"] = max(d["peak_inflight"] for d in cv.web)
    return out


# -- (2) CPU-bound -------------------------------------------------------------------------------
def cpu_bench(spec: SiteSpec, rounds: int, log: Any = print) -> dict[str, Any]:
    """CPU seconds (whole process tree) per archived page: citevault against Scrapy fetching the
    same URLs and keeping nothing. A one-page run of each measures the fixed start-up cost, so the
    marginal cost per page is reported beside the total."""
    spec = replace(spec, delay=0.0)
    urls = spec.all_urls()
    tiny_seed = spec.page_url(0)
    tiny_urls = [tiny_seed, *spec.page_requisites(0), f"http://{spec.host(0)}/static/bg.png"]
    res: dict[str, dict[str, list[float]]] = {
        name: {"total": [], "startup": [], "marginal": [], "web_share": []}
        for name in ("citevault", "scrapy")
    }
    notes: list[str] = []
    with WebFarm(spec) as web:
        for r in range(rounds):
            for name in (("citevault", "scrapy") if r % 2 == 0 else ("scrapy", "citevault")):
                work = _scratch("cpu")
                try:
                    if name == "citevault":
                        tiny, _ = _citevault_add(work / "home0", web, "--depth", "0", tiny_seed)
                        run, delta = _citevault_add(work / "home", web, "--scope", "all", spec.hub_url)
                    else:
                        tiny, _ = _scrapy_floor(work, web, tiny_urls)
                        run, delta = _scrapy_floor(work, web, urls)
                finally:
                    shutil.rmtree(work, ignore_errors=True)
                if delta["archived"] != len(urls):
                    notes.append(f"{name} round {r + 1}: {delta['archived']} of {len(urls)} URLs")
                res[name]["total"].append(run.cpu / spec.pages)
                res[name]["startup"].append(tiny.cpu)
                res[name]["marginal"].append((run.cpu - tiny.cpu) / spec.pages)
                res[name]["web_share"].append(delta["cpu_share"])
                log(f"  cpu round {r + 1} {name}: {run.cpu:.2f} s CPU ({tiny.cpu:.2f} s start-up), "
                    f"{run.wall:.1f} s wall, fake web CPU {100 * delta['cpu_share']:.0f}%")
    cv, sc = res["citevault"], res["scrapy"]
    return {
        "spec": spec, "urls": len(urls), "notes": notes,
        **{name: {k: summarize(v) for k, v in d.items()} for name, d in res.items()},
        "ratio_total": summarize([a / b for a, b in zip(cv["total"], sc["total"], strict=True)]),
        "ratio_marginal": summarize([a / b for a, b in zip(cv["marginal"], sc["marginal"], strict=True)]),
    }


# -- (5) storage ---------------------------------------------------------------------------------
def storage_bench(spec: SiteSpec, log: Any = print) -> dict[str, Any]:
    """Capture the hub twice, unchanged; bytes the second capture adds, WARC and index apart."""
    spec = replace(spec, delay=0.0)
    work = _scratch("store")
    home = work / "home"
    try:
        with WebFarm(spec) as web:
            _, first = _citevault_add(home, web, "--scope", "all", spec.hub_url)
            warc1, db1 = _dir_bytes(home / "warcs"), _dir_bytes(home, "citevault.db*")
            _, second = _citevault_add(home, web, "--scope", "all", spec.hub_url)
            warc2, db2 = _dir_bytes(home / "warcs"), _dir_bytes(home, "citevault.db*")
            revisits = _count_revisits(home)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log(f"  storage: first {warc1} B WARC, recapture added {warc2 - warc1} B ({revisits} revisits)")
    return {
        "spec": spec, "first_warc": warc1, "added_warc": warc2 - warc1, "share_warc": (warc2 - warc1) / warc1,
        "first_db": db1, "added_db": db2 - db1, "share_total": (warc2 + db2 - warc1 - db1) / (warc1 + db1),
        "archived": (first["archived"], second["archived"]), "revisits": revisits,
        "payload_bytes": first["body_bytes"],
    }


def _count_revisits(home: Path) -> int:
    import sqlite3

    con = sqlite3.connect(home / "citevault.db")
    try:
        return int(con.execute("select count(*) from captures where record_type='revisit'").fetchone()[0])
    finally:
        con.close()


# -- (6) memory ----------------------------------------------------------------------------------
def memory_bench(sizes: list[int], log: Any = print, deadline: float | None = None,
                 page_links: int = 0) -> dict[str, Any]:
    """Peak RSS of `citevault add --scope all` over a hub linking N small pages (every link
    followed: the per-page link limit is raised to N), then, with `page_links`, of the same
    command on one page of that many links under the default limit (its first 10,000 followed).
    A size whose estimated run (from the previous size's pace) would end past `deadline` is
    skipped."""
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    pace = 0.012  # seconds per URL, until measured
    for wanted in sizes:
        n = wanted
        if deadline is not None and time.monotonic() + 1.2 * pace * n > deadline:
            # The largest round size that still fits, if it is worth running (twice the last one).
            fits = int((deadline - time.monotonic()) / (1.2 * pace)) // 10_000 * 10_000
            last = rows[-1]["urls"] if rows else 0
            note = f"{wanted:,} URLs: estimated {pace * wanted:.0f} s, past the time budget"
            if fits >= max(2 * last, 1):
                n = fits
                note += f"; ran {n:,} instead"
            skipped.append(note)
            log(f"  memory: {note}")
            if n == wanted:
                continue
        row = _memory_run(n, n, log, skipped, {"CITEVAULT_MAX_LINKS_PER_PAGE": str(max(n + 10, 10_000))})
        if row is not None:
            rows.append(row)
            pace = row["wall"] / n
    page = _memory_run(page_links, 0, log, skipped, {}) if page_links else None
    return {"rows": rows, "page": page, "skipped": skipped}


def _memory_run(
    links: int, urls: int, log: Any, skipped: list[str], env: dict[str, str]
) -> dict[str, Any] | None:
    """One `add --scope all` of a hub of `links` links (`urls`: the crawl's size, 0 when the
    link limit cuts it); None (and a note in `skipped`) when it failed."""
    what = f"{urls:,} URLs" if urls else f"one page of {links:,} links"
    spec = SiteSpec(pages=links, delay=0.0, requisites=False, page_bytes=2_000)
    work = _scratch("mem")
    try:
        with WebFarm(spec) as web:
            run, delta = _citevault_add(work / "home", web, "--scope", "all", spec.hub_url, env=env)
    except RuntimeError as exc:  # a failed size must not lose the sizes measured before it
        skipped.append(f"{what}: {exc}")
        log(f"  memory {what}: failed: {exc}")
        return None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    locked = run.stderr.count("database is locked")
    busy = run.stderr.count("database was busy")  # a skipped heartbeat (workqueue.keeper): no error
    per = ", ".join(f"{k} {v:.0f}" for k, v in run.by_name_mb.items())
    load = os.getloadavg()[0]
    log(f"  memory {what}: kernel peak {run.maxrss_mb:.0f} MB (largest process), tree summed RSS "
        f"{run.tree_peak_mb:.0f} MB, tree PSS {run.tree_pss_mb:.0f} MB; by process: {per}; "
        f"{delta['archived']:,} archived, {run.wall:.0f} s, {run.cpu:.0f} s CPU, load {load:.1f}, "
        f"'database is locked' x{locked}, heartbeats skipped as busy x{busy}")
    return {
        "urls": urls or delta["archived"], "links": links, "archived": delta["archived"], "wall": run.wall,
        "cpu": run.cpu, "maxrss_mb": run.maxrss_mb, "tree_peak_mb": run.tree_peak_mb,
        "child_peak_mb": run.child_peak_mb, "timeline": run.timeline, "by_name_mb": run.by_name_mb,
        "tree_pss_mb": run.tree_pss_mb, "load": load, "locked": locked, "busy": busy,
    }
