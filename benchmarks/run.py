"""Run every citevault benchmark side by side with its reference tool and write RESULTS.md (every
issue-15 target as a row), a plot per section and results.png: `python benchmarks/run.py` (full,
about 80-85 minutes on 2 idle cores; benchmarks/README.md says what takes long) or `--quick` (a smoke
run, about 3 minutes idle)."""

from __future__ import annotations

import argparse
import os
import pickle
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: import as the `benchmarks` package, not its files
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from benchmarks.analysis import analyse  # noqa: E402
from benchmarks.browser import browser_bench  # noqa: E402
from benchmarks.capture import (  # noqa: E402
    WGET,
    compile_citevault,
    cpu_bench,
    default_concurrency,
    latency_bench,
    memory_bench,
    storage_bench,
)
from benchmarks.cpu_profile import profile_bench  # noqa: E402
from benchmarks.lookup import build_base, lookup_bench, replay_bench  # noqa: E402
from benchmarks.plots import write_overview, write_section_plots  # noqa: E402
from benchmarks.record_cpu import record_bench  # noqa: E402
from benchmarks.report import write_markdown  # noqa: E402
from benchmarks.report_perf import perf_plots  # noqa: E402
from benchmarks.scaleout import scaleout_bench  # noqa: E402
from benchmarks.search_bench import CORPUS, capture_throughput, extraction_cost  # noqa: E402
from benchmarks.search_bench import run as search_bench  # noqa: E402
from benchmarks.servers import PYWB_VENV, pywb_missing  # noqa: E402
from benchmarks.startup import startup_bench  # noqa: E402
from benchmarks.targets import targets  # noqa: E402
from benchmarks.webfarm import SiteSpec  # noqa: E402

HERE = Path(__file__).resolve().parent
PARTS = ("latency", "startup", "cpu", "record", "profile", "storage", "extraction", "browser", "index",
         "replay", "search", "memory", "scaleout")
PRESETS: dict[str, dict[str, Any]] = {
    "full": {"rounds": 3, "pages": 500, "index_sizes": [10_000, 100_000, 1_000_000, 10_000_000],
             "queries": 300,
             "replay_requests": 300, "memory_sizes": [10_000, 100_000], "memory_page_links": [1_000_000],
             "records": 2_000, "browser_pages": 40, "search_pages": 100_000, "search_queries": 300,
             "articles": 60, "scale_workers": [1, 2, 4]},
    "quick": {"rounds": 1, "pages": 60, "index_sizes": [2_000], "queries": 30,
              "replay_requests": 30, "memory_sizes": [300, 1_500], "memory_page_links": [20_000],
              "records": 200, "browser_pages": 3, "search_pages": 2_000, "search_queries": 30,
              "articles": 4, "scale_workers": [1, 2]},
}


def _sizes(text: str) -> list[int]:
    mult = {"k": 1_000, "m": 1_000_000}
    out = []
    for part in text.split(","):
        part = part.strip().lower()
        out.append(int(float(part[:-1]) * mult[part[-1]]) if part[-1:] in mult else int(part))
    return out


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true",
                    help="small sizes, one round: a smoke run (about 3 min idle)")
    ap.add_argument("--only", help=f"comma-separated parts to run, of: {', '.join(PARTS)}")
    ap.add_argument("--rounds", type=int, help="rounds of (1) and (2)")
    ap.add_argument("--pages", type=int, help="pages of the site for (1), (2), (5)")
    ap.add_argument("--index-sizes", type=_sizes, help="captures for (3), e.g. 10k,100k,1m")
    ap.add_argument("--queries", type=int, help="queries per kind and size for (3)")
    ap.add_argument("--index-backends", default="sqlite,postgresql",
                    help="index databases for (3) and search: sqlite, postgresql or both (default: "
                         "both; postgresql uses CITEVAULT_BENCH_PG, this machine's server by default)")
    ap.add_argument("--replay-requests", type=int, help="requests per kind for (4)")
    ap.add_argument("--memory-sizes", type=_sizes, help="URLs crawled for (6), e.g. 10k,100k; 0: none")
    ap.add_argument("--memory-page-links", type=_sizes,
                    help="links of the one big page of (6), e.g. 1m; 0: not run")
    ap.add_argument("--records", type=int, help="synthetic records for the capture-flow part")
    ap.add_argument("--browser-pages", type=int, help="script-shell and plain pages for browser")
    ap.add_argument("--search-pages", type=_sizes, help="generated pages for search, e.g. 100k")
    ap.add_argument("--search-queries", type=int, help="search queries per database")
    ap.add_argument("--evaldata", type=Path,
                    help="trafilatura's tests/evaldata.py: with it, extraction also scores main text "
                         "and cited links against trafilatura on the corpus's real articles")
    ap.add_argument("--articles", type=int, help="articles (10 cited pages each) for scaleout")
    ap.add_argument("--scale-workers", type=_sizes, help="worker counts for scaleout, e.g. 1,2,4")
    ap.add_argument("--instructions", action="store_true",
                    help="also count start-up instructions under valgrind (slow)")
    ap.add_argument("--budget", type=float,
                    help="seconds the whole run may take; memory sizes that would not fit are skipped")
    ap.add_argument("--saved", type=Path,
                    default=Path(tempfile.gettempdir()) / "citevault-bench-results.pickle",
                    help="where the measurements are kept after every part (default: in the temp dir)")
    ap.add_argument("--render", action="store_true",
                    help="measure nothing: write RESULTS.md and the plots again from --saved")
    ap.add_argument("--out-dir", type=Path,
                    help="where RESULTS.md and results.png go "
                    "(default benchmarks/, or a temp dir with --quick)")
    args = ap.parse_args(argv)
    preset = PRESETS["quick" if args.quick else "full"]
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.parts = [p.strip() for p in args.only.split(",")] if args.only else list(PARTS)
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        ap.error(f"unknown parts {', '.join(sorted(unknown))}; known: {', '.join(PARTS)}")
    if isinstance(args.search_pages, list):
        args.search_pages = sum(args.search_pages)
    if args.out_dir is None:
        args.out_dir = Path(tempfile.gettempdir()) / "citevault-bench-quick" if args.quick else HERE
    return args


def _version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "missing"


def _meta(args: argparse.Namespace) -> dict[str, Any]:
    import scrapy

    cpu_model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    conc, per_host = default_concurrency()
    pywb = "not installed" if pywb_missing() else _version([str(PYWB_VENV / "bin" / "wayback"), "--version"])
    return {
        "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        "mode": "quick" if args.quick else "full",
        "command": "python benchmarks/run.py" + (" --quick" if args.quick else "")
        + (f" --only {args.only}" if args.only else ""),
        "machine": f"{os.cpu_count()} x {cpu_model}, Linux {platform.release()}",
        "load_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "versions": f"Python {platform.python_version()}, Scrapy {scrapy.__version__}, "
        f"{_version([WGET, '--version'])}, pywb {pywb}",
        "concurrency": conc, "per_host": per_host,
    }


def _extraction(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    """Capture throughput with page indexing (metadata, main text, search terms) on and off, the
    extraction's cost per real article, and, given trafilatura's evaluation data, its quality."""
    out = {"throughput": capture_throughput(args.rounds, args.pages, log), "cost": extraction_cost(),
           "rounds": args.rounds, "pages": args.pages}
    if args.evaldata:
        from benchmarks.extraction import run as quality

        tsv = CORPUS.with_name(CORPUS.name.replace(".warc.gz", ".urls.tsv"))
        out["quality"] = quality(CORPUS, tsv, args.evaldata)
    return out


def _write_report(res: dict[str, Any], out_dir: Path, saved: Path) -> None:
    """RESULTS.md and the plots; a bug here must not end a long run: the measurements are saved."""
    try:
        plots = write_section_plots(res, out_dir)
        plots |= {p.stem.removeprefix("results-"): p.name for p in perf_plots(res, out_dir)}
        res["plots"] = plots
        res["analysis"] = analyse(res)
        write_overview(res, out_dir / "results.png")
        write_markdown(res, out_dir / "RESULTS.md", "results.png")
    except Exception:
        traceback.print_exc()
        print(f"the report failed; the measurements are kept in {saved}: after a fix, "
              f"`python benchmarks/run.py --render --saved {saved} --out-dir {out_dir}`", file=sys.stderr)


def _render(args: argparse.Namespace) -> int:
    if not args.saved.exists():
        print(f"error: no saved measurements at {args.saved}", file=sys.stderr)
        return 2
    res = pickle.loads(args.saved.read_bytes())
    args.out_dir.mkdir(parents=True, exist_ok=True)
    _write_report(res, args.out_dir, args.saved)
    print(f"wrote {args.out_dir / 'RESULTS.md'} from {args.saved}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    if args.render:
        return _render(args)
    t0 = time.monotonic()
    compile_citevault()  # as installed: the runs below never compile citevault from source
    res: dict[str, Any] = {"meta": _meta(args) | {"part_seconds": {}}, "skipped": []}
    spec = SiteSpec(pages=args.pages)
    log = print

    args.out_dir.mkdir(parents=True, exist_ok=True)
    md, png = args.out_dir / "RESULTS.md", args.out_dir / "results.png"

    def write() -> None:
        res["meta"]["duration"] = time.monotonic() - t0
        res["meta"]["load_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
        args.saved.write_bytes(pickle.dumps(res))
        _write_report(res, args.out_dir, args.saved)

    def part(name: str, fn: Callable[[], Any]) -> None:
        if name not in args.parts:
            return
        log(f"[{time.monotonic() - t0:6.0f} s] {name}")
        start = time.monotonic()
        try:
            res[name] = fn()
        except Exception as exc:  # one failed part must not lose the others
            traceback.print_exc()
            res["skipped"].append(f"{name}: failed: {exc}")
        res["meta"]["part_seconds"][name] = time.monotonic() - start
        write()  # after every part, so an interrupted run still leaves what it measured

    if Path(WGET).exists():
        part("latency", lambda: latency_bench(spec, args.rounds, log) | {"rounds": args.rounds})
    elif "latency" in args.parts:
        res["skipped"].append("latency: wget is missing; install it with `sudo apt-get install -y wget`")
    part("startup", lambda: startup_bench(spec, args.rounds, log, instructions=args.instructions))
    part("cpu", lambda: cpu_bench(spec, args.rounds, log))
    part("record", lambda: record_bench(args.records, log=log))
    part("profile", lambda: profile_bench(spec, log))
    part("storage", lambda: storage_bench(spec, log))
    part("extraction", lambda: _extraction(args, log))
    if "extraction" in args.parts and not args.evaldata:
        res["skipped"].append("extraction quality (main text and cited links against trafilatura): "
                              "needs --evaldata PATH (trafilatura's tests/evaldata.py, not shipped)")
    part("browser", lambda: browser_bench(args.browser_pages, log))
    if {"index", "replay"} & set(args.parts):
        work = Path(tempfile.mkdtemp(prefix="cvbench-base-"))
        try:
            base = build_base(work, log)
            part("index", lambda: lookup_bench(base, args.index_sizes, args.queries, log,
                                                   tuple(args.index_backends.split(","))))
            part("replay", lambda: replay_bench(base, args.replay_requests, log))
        except Exception as exc:
            traceback.print_exc()
            res["skipped"].append(f"index/replay: could not build the base archive: {exc}")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if missing := pywb_missing():
            res["skipped"].append(f"pywb side of (3) and (4): {missing}")
    part("search", lambda: search_bench(args.search_pages, args.search_queries,
                                        args.index_backends.split(","), log))
    deadline = t0 + args.budget if args.budget else None
    part("memory", lambda: memory_bench([n for n in args.memory_sizes if n], log, deadline,
                                        sum(args.memory_page_links)))
    if mem := res.get("memory"):
        res["skipped"] += [f"memory, {s}" for s in mem["skipped"]]
    part("scaleout", lambda: scaleout_bench(args.articles, tuple(args.scale_workers), log=log))
    res["skipped"] += [f"{p}: not selected (--only)" for p in PARTS if p not in args.parts]
    write()
    log("")
    for target, measured, ok in targets(res):
        log(f"  {'n/a   ' if ok is None else 'met   ' if ok else 'MISSED'} {target}: {measured}")
    log(f"\nwrote {md} and {png} in {res['meta']['duration']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
