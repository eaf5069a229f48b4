"""RESULTS.md sections for the issue-15 parts: start-up CPU (startup.py), the capture flow's CPU
per record (record_cpu.py) and scale-out with workers (scaleout.py), with one plot each; browser
capture (browser.py), extraction on vs off and full-text search (search_bench.py), whose plots
are in plots.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["perf_markdown", "perf_plots", "plot_link"]


def plot_link(res: dict[str, Any], section: str) -> list[str]:
    """The markdown of a section's plot, if the run wrote one."""
    name = (res.get("plots") or {}).get(section)
    return [f"![{section}]({name})", ""] if name else []


def perf_markdown(res: dict[str, Any]) -> list[str]:
    L: list[str] = []
    if st := res.get("startup"):
        ratio = st["ratio"]
        L += ["## (2a) Start-up CPU: one-page `citevault add` vs a one-page Scrapy run", "",
              *plot_link(res, "startup"),
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
        L += ["## (2b) The capture flow alone: CPU per record", "", *plot_link(res, "record"),
              f"`CaptureRecorder.record` of {rc['records']:,} synthetic exchanges (half 24 KB pages, half "
              "32 KB images) into SQLite, no network, no Scrapy (benchmarks/record_cpu.py).", "",
              "| first capture ms/record | unchanged recapture ms/record |", "| --- | --- |",
              f"| {1000 * rc['first']:.3f} | {1000 * rc['recapture']:.3f} |", ""]
    if so := res.get("scaleout"):
        s = so["spec"]
        L += ["## (5a) Scale-out: `citevault worker` processes on PostgreSQL and Redis", "",
              *plot_link(res, "scaleout"),
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
    return L + _capture_extras(res) + _search_markdown(res)


def _capture_extras(res: dict[str, Any]) -> list[str]:
    L: list[str] = []
    if (br := res.get("browser")) and br.get("rows"):
        L += ["## Browser capture: script-shell pages through Chromium (benchmarks/browser.py)", "",
              *plot_link(res, "browser"),
              f"{br['pages']} copies of the tests' modern article (JSON API, script-inserted and lazy "
              "images, a widgets script, an ad iframe) captured by one `citevault add --depth 0` with "
              "`CITEVAULT_BROWSER=auto` and 2 browser pages at a time; then as many plain HTML articles "
              "with the browser on `auto` and on `never`. Chromium's start-up is in each run. Tree memory "
              "sampled every 0.25 s: PSS splits shared pages among their users; summed RSS counts "
              "Chromium's shared pages once per process.", "",
              "| run | pages/min | wall s | CPU s | rendered | records | failed | tree peak PSS MB "
              "| tree peak RSS MB (summed) |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        L += [f"| {r['name']} | {r['pages_per_min']:.0f} | {r['wall']:.1f} | {r['cpu']:.1f} | "
              f"{r['browser_pages']}/{r['pages']} | {r['records']} | {r['failed']} | "
              f"{r['tree_peak_pss_mb']:.0f} | {r['tree_peak_rss_mb']:.0f} |" for r in br["rows"]]
        L.append("")
    if (ex := res.get("extraction")) and "throughput" in ex:
        tp, cost = ex["throughput"], ex["cost"]
        L += ["## Extraction on vs off: capture throughput and cost per page", "",
              *plot_link(res, "extraction"),
              f"`citevault add --scope all HUB` of the latency-bound site of (1) ({ex['pages']} pages), with "
              "page indexing (metadata, main text, search terms: CITEVAULT_INDEX_PAGES) on and off, "
              f"alternating, {ex['rounds']} rounds (search_bench.capture_throughput); pages/s over the whole "
              "command, the indexer's last pass included.", "",
              "| page indexing | pages/s | CPU s (tree) |", "| --- | --- | --- |",
              f"| on | {tp['indexing on pages/s']:.1f} | {tp['indexing on cpu s']:.1f} |",
              f"| off | {tp['indexing off pages/s']:.1f} | {tp['indexing off cpu s']:.1f} |", "",
              f"On / off: **{tp['on/off pages/s (median of rounds)']:.3f}** (target >= 0.9). Extraction "
              f"(trafilatura) of the corpus's {cost['pages']} real news articles: median "
              f"{cost['ms_median']:.0f} ms per page, p90 {cost['ms_p90']:.0f} ms (median page "
              f"{cost['kb_median']} KB).", ""]
        if q := ex.get("quality"):
            L += [f"Quality on the {q['pages']} articles against trafilatura's evaluation snippets "
                  "(benchmarks/extraction.py):", "",
                  "| main text | \"with\" found | \"without\" rejected | ms/page |",
                  "| --- | --- | --- | --- |"]
            L += [f"| {k} | {v['with_found']} | {v['without_rejected']} | {v['ms_per_page_median']} |"
                  for k, v in q["text"].items()]
            L += ["", "| cited links | precision | recall | false cited | missed |",
                  "| --- | --- | --- | --- | --- |"]
            L += [f"| {k} | {v['precision']} | {v['recall']} | {v['false_cited']} | {v['missed']} |"
                  for k, v in q["links"].items()]
            L.append("")
    return L


def _search_markdown(res: dict[str, Any]) -> list[str]:
    s = res.get("search")
    if not s or not any("in_process" in (s.get(e) or {}) for e in ("sqlite", "postgresql")):
        return []
    L = ["## Full-text search (benchmarks/search_bench.py)", "", *plot_link(res, "search"),
         f"{s['pages']:,} generated pages of news-like text (a word-bigram chain trained on the corpus's "
         f"articles) indexed in SQLite (FTS5) and PostgreSQL (tsvector + GIN); {s['queries']} queries of "
         "four kinds (a frequent word, two words, a phrase, a rare word), 20 ranked hits with snippets each. "
         "In-process: `storage.search.search`; HTTP: `GET /api/search` of `create_app` under uvicorn in its "
         "own process, a fresh loopback connection per request. ms p50 / p99.", "",
         "| database | index build s | in-process | HTTP (server) | HTTP (ASGI) | full-text index B/page |",
         "| --- | --- | --- | --- | --- | --- |"]
    for engine in ("sqlite", "postgresql"):
        e = s.get(engine) or {}
        if "in_process" not in e:
            L.append(f"| {engine} | {e.get('error', 'not run')} | | | | |")
            continue
        http = e.get("http") or {}

        def ms(d: dict[str, Any] | None) -> str:
            return f"{d['p50_ms']:.1f} / {d['p99_ms']:.1f}" if d and "p50_ms" in d else "-"

        L.append(f"| {engine} | {e['index_seconds']:.0f} | {ms(e['in_process']['all'])} | "
                 f"{ms(http.get('server'))} | {ms(http.get('asgi'))} | "
                 f"{e['size'].get('full_text_index_bytes_per_page', '-')} |")
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
