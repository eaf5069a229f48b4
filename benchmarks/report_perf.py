"""RESULTS.md sections and one plot each for the issue-15 parts: start-up CPU (startup.py), the
capture flow's CPU per record (record_cpu.py) and scale-out with workers (scaleout.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["perf_markdown", "perf_plots"]


def perf_markdown(res: dict[str, Any]) -> list[str]:
    L: list[str] = []
    if st := res.get("startup"):
        ratio = st["ratio"]
        L += ["## (2a) Start-up CPU: one-page `citevault add` vs a one-page Scrapy run", "",
              "CPU = user + system seconds of the whole process tree (wait4), which machine load "
              "distorts much less than wall time. `again` is a second run on the same home (schema "
              "current: no migration), the usual case; `--help` is the CLI alone.", "",
              "| citevault add | again (schema current) | Scrapy | citevault --help "
              "| ratio (again / Scrapy) |",
              "| --- | --- | --- | --- | --- |",
              f"| {st['citevault'].fmt()} s | {st['second'].fmt()} s | {st['scrapy'].fmt()} s | "
              f"{st['help'].fmt()} s | **{ratio.fmt()}x** (target 2x) |", ""]
        if st.get("ir_citevault"):
            L += [f"Instructions (callgrind, whole tree): citevault {st['ir_citevault']:,}, Scrapy "
                  f"{st['ir_scrapy']:,} ({st['ir_citevault'] / st['ir_scrapy']:.2f}x).", ""]
    if rc := res.get("record"):
        L += ["## (2b) The capture flow alone: CPU per record", "",
              f"`CaptureRecorder.record` of {rc['records']:,} synthetic exchanges (half 24 KB pages, half "
              "32 KB images) into SQLite, no network, no Scrapy (benchmarks/record_cpu.py).", "",
              "| first capture ms/record | unchanged recapture ms/record |", "| --- | --- |",
              f"| {1000 * rc['first']:.3f} | {1000 * rc['recapture']:.3f} |", ""]
    if so := res.get("scaleout"):
        s = so["spec"]
        L += ["## (5a) Scale-out: `citevault worker` processes on PostgreSQL and Redis", "",
              f"{so['articles']} articles, each citing 10 pages (depth 1, cited links), every response "
              f"delayed {1000 * so['delay']:.0f} ms; {s.hosts} hosts. Each worker process runs one "
              "capture at a time (CITEVAULT_WORKERS=1). Throughput = archived URLs / wall time from "
              "submitting to the last snapshot settled. `twice` = URLs archived twice in one snapshot; "
              "`missed` = expected URLs not archived; `reruns` = snapshots run more than once.", "",
              "| workers | wall s | URLs/s | vs 1 worker | tree CPU s | URLs | twice | missed | reruns "
              "| not done |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in so["rows"]:
            L.append(f"| {r['workers']} | {r['wall'].fmt('.1f')} | {r['urls_per_s'].fmt('.1f')} | "
                     f"{r['ratio'].fmt()}x | {r['cpu'].fmt('.1f')} | {r['urls']}/{r['expected']} | "
                     f"{r['twice']} | {r['missed']} | {r['reruns']} | {r['not_done']} |")
        L.append("")
    return L


def perf_plots(res: dict[str, Any], out_dir: Path) -> list[Path]:
    """One PNG per part that ran, beside results.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    if st := res.get("startup"):
        fig, ax = plt.subplots(figsize=(6, 4))
        names = ["citevault add", "again", "Scrapy", "--help"]
        vals = [st[k].median for k in ("citevault", "second", "scrapy", "help")]
        ax.bar(names, vals, color=["tab:blue", "tab:blue", "tab:gray", "tab:cyan"])
        ax.axhline(2 * st["scrapy"].median, color="red", linewidth=0.8, label="target: 2x Scrapy")
        ax.set_ylabel("CPU s (process tree)")
        ax.set_title("(2a) start-up CPU, one-page run")
        ax.legend()
        written.append(_save(fig, out_dir / "results-startup.png"))
    if rc := res.get("record"):
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.bar(["first capture", "recapture"], [1000 * rc["first"], 1000 * rc["recapture"]], color="tab:blue")
        ax.set_ylabel("CPU ms per record")
        ax.set_title("(2b) capture flow CPU per record")
        written.append(_save(fig, out_dir / "results-record.png"))
    if so := res.get("scaleout"):
        fig, ax = plt.subplots(figsize=(6, 4))
        xs = [r["workers"] for r in so["rows"]]
        ax.plot(xs, [r["ratio"].median for r in so["rows"]], marker="o", label="measured")
        ax.plot(xs, xs, "--", color="gray", label="linear")
        ax.plot([2, 4], [1.8, 3.0], "rx", label="target")
        ax.set_xlabel("worker processes")
        ax.set_ylabel("throughput vs 1 worker")
        ax.set_title(f"(5a) scale-out, {so['articles']} articles")
        ax.legend()
        written.append(_save(fig, out_dir / "results-scaleout.png"))
    return written


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
