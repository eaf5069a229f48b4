"""Writing a benchmark run out: RESULTS.md (targets, tables, profile, what stands in the way) and
one PNG with a panel per comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .measure import Summary
from .report_perf import perf_markdown

__all__ = ["targets", "write_markdown", "write_plot"]

_TREE_MB = 300  # issue 15 (4): the whole tree, at 10k and 100k URLs and a million-link page
_FLAT = 1.25  # "flat": the larger crawl's peak RSS within 25% of the smaller one's


def _ok(flag: bool | None) -> str:
    return "n/a" if flag is None else ("met" if flag else "**missed**")


def targets(res: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met?) for each target of the issue; None where not run."""
    out: list[tuple[str, str, bool | None]] = []
    lat = res.get("latency")
    if lat and "ratio" in lat:
        r: Summary = lat["ratio"]
        out.append(("(1) pages/s >= 5x wget", f"{r.fmt('.1f', 'x')}", r.median >= 5))
    else:
        out.append(("(1) pages/s >= 5x wget", "not run", None))
    cpu = res.get("cpu")
    if cpu and "ratio_total" in cpu:
        t, m = cpu["ratio_total"], cpu["ratio_marginal"]
        out.append(("(2) CPU/page <= 1.5x plain Scrapy",
                    f"{t.fmt('.1f', 'x')} total, {m.fmt('.1f', 'x')} start-up excluded",
                    t.median <= 1.5 and m.median <= 1.5))
    else:
        out.append(("(2) CPU/page <= 1.5x plain Scrapy", "not run", None))
    idx = res.get("index")
    if idx and idx.get("rows"):
        top = max(r["captures"] for r in idx["rows"])
        for big in [r for r in idx["rows"] if r["captures"] == top]:
            p50s = {k: big[f"citevault_{k}"]["p50"] for k in ("exact", "prefix", "closest")}
            where = f"{big['captures']:,} captures ({big.get('backend', 'sqlite')})"
            out.append((f"(3) /cdx p50 <= 3 ms at {where}",
                        ", ".join(f"{k} {v:.1f} ms" for k, v in p50s.items()), max(p50s.values()) <= 3))
        if idx.get("pg_missing"):
            out.append(("(3) /cdx on PostgreSQL", idx["pg_missing"], None))
        if idx.get("pywb_missing") is None:
            worse = [f"{k} at {row['captures']:,}" for row in idx["rows"]
                     for k in ("exact", "prefix", "closest")
                     if f"pywb_{k}" in row and row[f"citevault_{k}"]["p50"] > row[f"pywb_{k}"]["p50"]]
            out.append(("(3) /cdx no slower than pywb's CDXJ",
                        "slower: " + ", ".join(worse) if worse else "faster or equal on every query and size",
                        not worse))
        else:
            out.append(("(3) /cdx no slower than pywb's CDXJ", idx["pywb_missing"], None))
    else:
        out.append(("(3) /cdx p50 <= 3 ms at 10M captures", "not run", None))
    rep = res.get("replay")
    if rep and "citevault_raw" in rep:
        raw, rw = rep["citevault_raw"]["p50"], rep["citevault_rewritten"]["p50"]
        out.append(("(4) replay p50 <= 10 ms (100 KB)", f"raw {raw:.1f} ms, rewritten {rw:.1f} ms",
                    max(raw, rw) <= 10))
    else:
        out.append(("(4) replay p50 <= 10 ms (100 KB)", "not run", None))
    st = res.get("storage")
    if st and "share_warc" in st:
        out.append(("(5) unchanged recapture adds <= 5%",
                    f"{100 * st['share_warc']:.1f}% of WARC bytes "
                    f"({100 * st['share_total']:.1f}% with the index)",
                    st["share_warc"] <= 0.05))
    else:
        out.append(("(5) unchanged recapture adds <= 5%", "not run", None))
    mem = res.get("memory")
    if mem and len(mem.get("rows", [])) >= 2:
        a, b = mem["rows"][0], mem["rows"][-1]
        growth = b["child_peak_mb"] / max(a["child_peak_mb"], 1e-9)
        out.append((f"(6) peak RSS flat ({a['urls']:,} -> {b['urls']:,} URLs, within {_FLAT:.2f}x)",
                    f"crawl process {a['child_peak_mb']:.0f} -> {b['child_peak_mb']:.0f} MB ({growth:.2f}x)",
                    growth <= _FLAT))
    elif not (mem and mem.get("page")):
        out.append(("(6) peak RSS flat", "not run", None))
    for r in [*(mem or {}).get("rows", []), *([mem["page"]] if mem and mem.get("page") else [])]:
        what = f"{r['urls']:,} URLs" if r["links"] == r["urls"] else f"a page of {r['links']:,} links"
        tree = r.get("tree_pss_mb") or r["tree_peak_mb"]
        out.append((f"(6) whole tree <= {_TREE_MB} MB, {what}",
                    f"PSS {tree:.0f} MB (summed RSS {r['tree_peak_mb']:.0f}, largest process "
                    f"{r['maxrss_mb']:.0f} by the kernel), 'database is locked' x{r.get('locked', 0)}",
                    tree <= _TREE_MB and not r.get("locked")))
    if st and "share_warc" in st:
        share_db = st["added_db"] / max(st["first_db"], 1)
        out.append(("(5) unchanged recapture adds <= 25% of the index", f"{100 * share_db:.1f}%",
                    share_db <= 0.25))
    if (up := res.get("startup")) and "ratio" in up:
        out.append(("(2a) start-up CPU <= 2x Scrapy's", up["ratio"].fmt(".2f", "x"), up["ratio"].median <= 2))
    if (so := res.get("scaleout")) and so.get("rows"):
        want = {2: 1.8, 4: 3.0}
        got = {r["workers"]: r for r in so["rows"]}
        shown = ", ".join(f"{n} workers {got[n]['ratio'].fmt('.2f', 'x')}" for n in sorted(got) if n > 1)
        clean = all(r["twice"] == 0 and r["missed"] == 0 and r["reruns"] == 0 for r in so["rows"])
        ok = clean and all(got[n]["ratio"].median >= w for n, w in want.items() if n in got)
        out.append(("(5a) scale-out >= 1.8x at 2 workers, 3x at 4, nothing twice or missed",
                    shown + ("" if clean else "; duplicates or misses, see (5a)"), ok))
    return out


def _ms(d: dict[str, Any] | None) -> str:
    if not d:
        return "-"
    return f"{d['p50']:.2f} / {d['p99']:.2f}"


def write_markdown(res: dict[str, Any], path: Path, plot_name: str) -> None:
    meta = res["meta"]
    L: list[str] = [
        "# citevault benchmarks", "",
        f"Generated by `{meta['command']}` on {meta['started']} UTC ({meta['duration']:.0f} s). "
        f"Machine: {meta['machine']}. Load average at start {meta['load_start']}, at end {meta['load_end']}"
        " (other jobs shared these cores: read the spreads, not only the medians).", "",
        f"Versions: {meta['versions']}.", "",
        "Every comparison ran both sides in this run on the same local fake web (benchmarks/webfarm.py: "
        "one asyncio process, HTTP proxy for any host name), alternating which side goes first. "
        "Values are medians with (min-max) over rounds; ratios are computed round by round, then the "
        "median taken.", "",
        f"![results]({plot_name})", "",
        "## Targets", "", "| target | measured | |", "| --- | --- | --- |",
    ]
    L += [f"| {t} | {m} | {_ok(ok)} |" for t, m, ok in targets(res)]
    L.append("")

    if lat := res.get("latency"):
        s = lat["spec"]
        L += ["## (1) Latency-bound capture: citevault vs wget", "",
              f"{s.pages} pages over {s.hosts} hosts, every response delayed {s.delay * 1000:.0f} ms by the "
              f"server, {lat['expected_urls']} URLs in all (hub, pages, one image each, four shared "
              f"requisites per host). citevault: `citevault add --scope all HUB` (concurrency "
              f"{meta['concurrency']}, per host {meta['per_host']}: the defaults). wget: "
              "`wget -e robots=off --page-requisites --span-hosts --level=1 --recursive --warc-file=...` "
              f"through the same proxy. {lat['rounds']} rounds.", "",
              "| | pages/s | MB/s | wall s | fake-web CPU |", "| --- | --- | --- | --- | --- |"]
        for name in ("citevault", "wget"):
            d = lat[name]
            L.append(f"| {name} | {d['pages_per_s'].fmt('.1f')} | {d['mb_per_s'].fmt('.2f')} | "
                     f"{d['wall'].fmt('.1f')} | {d['web_cpu_share'].fmt('.0%')} |")
        L += ["", f"citevault / wget pages/s: **{lat['ratio'].fmt('.1f', 'x')}**.", ""]
        for name in ("citevault", "wget"):
            L += [f"- {name}: {n}" for n in lat[name]["notes"]]
        L.append("")

    if cpu := res.get("cpu"):
        s = cpu["spec"]
        L += ["## (2) CPU-bound capture: citevault vs a plain Scrapy spider", "",
              f"Same site, no delay: {s.pages} pages, {cpu['urls']} URLs. CPU = user + system seconds of the "
              "whole process tree (wait4 rusage: the CLI and its crawl child). The plain spider "
              "(benchmarks/scrapy_floor.py) fetches the same URL list with the same concurrency and keeps "
              "nothing. Start-up = a one-page run of each; marginal = (total - start-up) / pages.", "",
              "| | CPU ms/page (total) | CPU ms/page (marginal) | start-up CPU s |",
              "| --- | --- | --- | --- |"]
        for name in ("citevault", "scrapy"):
            d = cpu[name]
            tot, mar = d["total"].scaled(1000), d["marginal"].scaled(1000)
            L.append(f"| {name} | {tot.fmt('.2f')} | {mar.fmt('.2f')} | {d['startup'].fmt('.2f')} |")
        L += ["", f"Ratio citevault / Scrapy: total **{cpu['ratio_total'].fmt('.2f', 'x')}**, marginal "
              f"**{cpu['ratio_marginal'].fmt('.2f', 'x')}**.", ""]
        L += [f"- {n}" for n in cpu["notes"]]
        L.append("")

    if prof := res.get("profile"):
        L += ["### Where citevault's time goes", ""]
        if p := prof.get("pyspy"):
            L += ["py-spy, 200 Hz, `citevault add --scope all` on the no-delay site, parent and crawl child: "
                  f"{p['samples']} samples, {100 * p['import_share']:.0f}% of them imports at start-up. "
                  f"Shares below are of the {p['crawl_samples']} samples inside `crawl()` (py-spy counts a "
                  "thread blocked in fsync as active). `os.fsync` in storage/warcstore.py: "
                  f"**{100 * p['fsync_share']:.0f}%**.", "",
                  "| component (innermost frame of each sample) | share |", "| --- | --- |"]
            L += [f"| {k} | {100 * v:.0f}% |" for k, v in p["libraries"]]
            L += ["", "| own function (inclusive) | share |", "| --- | --- |"]
            own = [(k, v) for k, v in p["inclusive"] if v < 0.99]  # not the frames every sample has
            L += [f"| `{k}` | {100 * v:.1f}% |" for k, v in own[:12]]
            L += ["", "| self (leaf) | share |", "| --- | --- |"]
            L += [f"| `{k}` | {100 * v:.1f}% |" for k, v in p["self"][:12]]
            L.append("")
        else:
            L += [f"py-spy profile not taken: {prof.get('pyspy_missing')}", ""]
        f, nf = prof.get("fsync", {}), prof.get("no_fsync", {})
        if "wall" in f and "wall" in nf:
            L += [f"What-if (crawl in-process, benchmarks/fsync_whatif.py): {f['wall']:.1f} s wall / "
                  f"{f['cpu']:.1f} s CPU with fsync, {nf['wall']:.1f} s / {nf['cpu']:.1f} s "
                  "without it.", ""]

    if idx := res.get("index"):
        L += ["## (3) Index lookups: citevault /cdx vs pywb's CDXJ index", "",
              f"Generated Capture rows ({10} captures per URL, a year apart) pointing at real WARC records, "
              "in SQLite (the default index) and in PostgreSQL (loaded with COPY after `citevault reindex` "
              "of the base archive); pywb 2.10 in its own venv over a sorted CDXJ file of the "
              f"same rows and the same WARC files. {idx['queries']} queries per kind, a fresh connection "
              "per request on both sides. Milliseconds, p50 / p99. `in-process` is citevault.cdx "
              "(parse, SQL, render) without HTTP.", "",
              "| captures | index | query | citevault /cdx | pywb CDXJ | citevault in-process | rows |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
        for row in idx["rows"]:
            for kind in ("exact", "prefix", "closest"):
                cv = row.get(f"citevault_{kind}")
                L.append(f"| {row['captures']:,} | {row.get('backend', 'sqlite')} | {kind} | {_ms(cv)} | "
                         f"{_ms(row.get(f'pywb_{kind}'))} | {_ms(row.get(f'inproc_{kind}'))} | "
                         f"{cv['rows']:.0f} |")
                if cv and cv.get("error"):
                    L.append(f"| | | | error: {cv['error'][:120]} | | | |")
        L += ["", "Queries: exact `url=U`; prefix `url=P&matchType=prefix&limit=100`; closest "
              "`url=U&closest=TS&sort=closest&limit=1`. The app's per-request floor, `GET /healthz` on the "
              "same server: " + ", ".join(
                  f"{r['captures']:,} ({r.get('backend', 'sqlite')}): {_ms(r.get('citevault_healthz'))} ms"
                  for r in idx["rows"]) + ".", ""]
        if idx.get("pywb_missing"):
            L += [f"pywb not run: {idx['pywb_missing']}", ""]

    if rep := res.get("replay"):
        L += ["## (4) Replay of a 100 KB page", "",
              f"{rep['requests']} requests each, fresh connection per request, ms p50 / p99. citevault "
              "`/web/{ts}id_/URL` (raw) and `/web/{ts}/URL` (rewritten); pywb `id_` and `mp_` (its "
              "rewritten page without the frame).", "",
              "| | raw | rewritten |", "| --- | --- | --- |"]
        for side in ("citevault", "pywb"):
            if f"{side}_raw" in rep:
                L.append(f"| {side} | {_ms(rep[f'{side}_raw'])} | {_ms(rep[f'{side}_rewritten'])} |")
        for side in ("citevault", "pywb"):
            if "cpu_ms" in rep.get(f"{side}_raw", {}):
                L.append(f"| {side}, server CPU per request | {rep[f'{side}_raw']['cpu_ms']:.2f} ms | "
                         f"{rep[f'{side}_rewritten']['cpu_ms']:.2f} ms |")
        L.append("")

    if st := res.get("storage"):
        L += ["## (5) Storage of an unchanged recapture", "",
              f"The {st['spec'].pages}-page site captured twice into one home, nothing changed in between "
              f"({st['archived'][0]} URLs each time; {st['revisits']} revisit records the second time).", "",
              "| | first capture | added by the recapture | share |", "| --- | --- | --- | --- |",
              f"| WARC bytes | {st['first_warc']:,} | {st['added_warc']:,} | {100 * st['share_warc']:.1f}% |",
              f"| index (SQLite) bytes | {st['first_db']:,} | {st['added_db']:,} | "
              f"{100 * st['added_db'] / max(st['first_db'], 1):.1f}% |", ""]

    if mem := res.get("memory"):
        L += ["## (6) Peak memory by crawl size", "",
              "`citevault add --scope all` of a hub linking N small pages (2 KB, no delay; every link "
              "followed: CITEVAULT_MAX_LINKS_PER_PAGE raised to N), and of one page of a million links "
              "(default limit: its first 10,000 followed). Sampled every 50 ms: peak RSS per process (CLI, "
              "fork server, crawl child, page indexer), the tree's summed RSS (counts pages shared by "
              "forked processes once per "
              "process) and summed PSS (shared pages split among their users: the tree's real footprint, "
              "every 0.5 s); kernel peak = wait4 maxrss (the largest single process, never missed between "
              "samples).", "",
              "| URLs | links on the hub | archived | wall s | CPU s | load | CLI | fork server | crawl | "
              "page indexer | kernel peak | tree RSS | tree PSS | locked |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in [*mem["rows"], *([mem["page"]] if mem.get("page") else [])]:
            by = r.get("by_name_mb", {})
            L.append(f"| {r['urls']:,} | {r.get('links', r['urls']):,} | {r['archived']:,} | "
                     f"{r['wall']:.0f} | {r['cpu']:.0f} | {r.get('load', 0):.1f} | "
                     f"{by.get('citevault', 0):.0f} | "
                     f"{by.get('citevault-forks', 0):.0f} | {by.get('citevault-job', 0):.0f} | "
                     f"{by.get('citevault-pagei', 0):.0f} | {r['maxrss_mb']:.0f} | {r['tree_peak_mb']:.0f} | "
                     f"{r.get('tree_pss_mb', 0):.0f} | {r.get('locked', 0)} |")
        L.append("")

    L += perf_markdown(res)
    if res.get("skipped"):
        L += ["## Not run", ""] + [f"- {s}" for s in res["skipped"]] + [""]
    L += ["## What stands in the way", ""] + [f"- {a}" for a in res.get("analysis", [])] + [""]
    path.write_text("\n".join(L), encoding="utf-8")


def write_plot(res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    ax = axes[0][0]
    if lat := res.get("latency"):
        names = ["citevault", "wget"]
        med = [lat[n]["pages_per_s"].median for n in names]
        err = [[m - lat[n]["pages_per_s"].low for m, n in zip(med, names, strict=True)],
               [lat[n]["pages_per_s"].high - m for m, n in zip(med, names, strict=True)]]
        ax.bar(names, med, yerr=err, color=["tab:blue", "tab:gray"], capsize=6)
    ax.set_title("(1) latency-bound capture, pages/s")
    ax = axes[0][1]
    if cpu := res.get("cpu"):
        names = ["citevault", "scrapy"]
        for k, (key, off) in enumerate((("total", -0.2), ("marginal", 0.2))):
            vals = [cpu[n][key].median * 1000 for n in names]
            ax.bar([i + off for i in range(2)], vals, width=0.4, label=key, color=["tab:blue", "tab:cyan"][k])
        ax.set_xticks([0, 1], names)
        ax.legend()
    ax.set_title("(2) CPU ms per archived page")
    ax = axes[0][2]
    if (idx := res.get("index")) and idx.get("rows"):
        for side, backend, style in (("citevault", "sqlite", "-"), ("citevault", "postgresql", ":"),
                                     ("pywb", "sqlite", "--")):
            rows = [r for r in idx["rows"] if r.get("backend", "sqlite") == backend]
            for kind, color in (("exact", "tab:blue"), ("prefix", "tab:orange"), ("closest", "tab:green")):
                if rows and f"{side}_{kind}" in rows[0]:
                    ax.plot([r["captures"] for r in rows], [r[f"{side}_{kind}"]["p50"] for r in rows], style,
                            color=color, marker="o",
                            label=f"{side} {kind}" + (f" ({backend})" if side == "citevault" else ""))
        ax.set_xscale("log")
        ax.axhline(3, color="red", linewidth=0.8)
        ax.legend(fontsize=6)
    ax.set_title("(3) lookup p50 ms vs captures")
    ax = axes[1][0]
    if rep := res.get("replay"):
        labels, vals = [], []
        for side in ("citevault", "pywb"):
            for kind in ("raw", "rewritten"):
                if f"{side}_{kind}" in rep:
                    labels.append(f"{side}\n{kind}")
                    vals.append(rep[f"{side}_{kind}"]["p50"])
        ax.bar(labels, vals, color="tab:purple")
        ax.axhline(10, color="red", linewidth=0.8)
    ax.set_title("(4) replay 100 KB, p50 ms")
    ax = axes[1][1]
    if st := res.get("storage"):
        ax.bar(["first capture", "unchanged recapture"], [st["first_warc"] / 1e6, st["added_warc"] / 1e6],
               color=["tab:blue", "tab:olive"])
    ax.set_title("(5) WARC MB written")
    ax = axes[1][2]
    if mem := res.get("memory"):
        xs = [r["urls"] for r in mem["rows"]]
        ax.plot(xs, [r["child_peak_mb"] for r in mem["rows"]], marker="o", label="crawl process")
        ax.plot(xs, [r["tree_peak_mb"] for r in mem["rows"]], marker="s", label="whole tree")
        ax.set_xscale("log")
        ax.legend(loc="upper left", fontsize=8)
        ax.set_xlabel("URLs")
        if mem["rows"] and mem["rows"][-1].get("timeline"):
            inset = ax.inset_axes((0.58, 0.1, 0.38, 0.32))
            last = mem["rows"][-1]
            inset.plot([t / last["wall"] for t, _ in last["timeline"]], [m for _, m in last["timeline"]],
                       linewidth=0.8)
            inset.set_title(f"crawl RSS over the {last['urls']:,} run", fontsize=7)
            inset.tick_params(labelsize=6)
    ax.set_title("(6) peak RSS MB vs URLs crawled")
    for ax in (a for row in axes for a in row):
        if not ax.has_data():
            ax.text(0.5, 0.5, "not run", ha="center", va="center", transform=ax.transAxes, color="gray")
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(f"citevault benchmarks, {res['meta']['started']} UTC ({res['meta']['mode']})")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
