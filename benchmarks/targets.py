"""The targets of issue 15, one row each with this run's measured value and met / missed / n/a
(not run, or not measurable in this run): RESULTS.md's first table and run.py's closing lines.
T1-T8 are the issue's numbers; (1)-(6), (2a), (5a) the RESULTS.md sections the value comes from."""

from __future__ import annotations

from typing import Any

from .measure import Summary

__all__ = ["Row", "targets"]

Row = tuple[str, str, bool | None]
TREE_MB = 300  # T4: the whole tree, at 10k and 100k URLs and on a million-link page
FLAT = 1.25  # T4 "flat": the larger crawl's peak within 25% of the smaller one's
SEARCH_P50, SEARCH_P99 = 10.0, 50.0  # issue 12's search targets, ms


def _cpu(res: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    name = "T1 (2) CPU/page <= 1.5x plain Scrapy, total and marginal"
    if (cpu := res.get("cpu")) and "ratio_total" in cpu:
        t, m = cpu["ratio_total"], cpu["ratio_marginal"]
        out.append((name, f"{t.fmt('.2f', 'x')} total, {m.fmt('.2f', 'x')} marginal",
                    t.median <= 1.5 and m.median <= 1.5))
    else:
        out.append((name, "not run", None))
    name = "T1 (2a) start-up CPU <= 2x Scrapy's"
    if (up := res.get("startup")) and "ratio" in up:
        out.append((name, up["ratio"].fmt(".2f", "x"), up["ratio"].median <= 2))
    else:
        out.append((name, "not run", None))
    return out


def _latency(res: dict[str, Any]) -> list[Row]:
    lat = res.get("latency")
    if not lat or "ratio" not in lat:
        return [("T2 (1) latency-bound farm: wall <= 1.5x the network floor", "not run", None)]
    r: Summary = lat["ratio"]
    out: list[Row] = [("(1) pages/s >= 5x wget (issue 5)", r.fmt(".1f", "x"), r.median >= 5)]
    if (fl := lat.get("floor")) and "over_floor" in lat:
        o: Summary = lat["over_floor"]
        out.append(("T2 (1) latency-bound farm: wall <= 1.5x the network floor",
                    f"{o.fmt('.2f', 'x')}: wall {lat['citevault']['wall'].fmt('.2f')} s, floor "
                    f"{fl['floor']:.1f} s ({fl['urls']} URLs, {fl['concurrency']} in flight, "
                    f"{fl['per_host']} per host, {1000 * fl['delay']:.0f} ms each)", o.median <= 1.5))
        peak, limit = lat["peak_per_host"], fl["per_host"]
        out.append(("T2 (1) per-host limit enforced",
                    f"at most {peak} in flight at one host (limit {limit}), {lat['peak_inflight']} in all "
                    f"(limit {fl['concurrency']}), counted by the fake web",
                    peak <= limit and lat["peak_inflight"] <= fl["concurrency"]))
    return out


def _storage(res: dict[str, Any]) -> list[Row]:
    st = res.get("storage")
    if not st or "share_warc" not in st:
        return [("T3 (5) unchanged recapture adds <= 5% WARC bytes, <= 25% index bytes", "not run", None)]
    share_db = st["added_db"] / max(st["first_db"], 1)
    return [("T3 (5) unchanged recapture adds <= 5% of WARC bytes", f"{100 * st['share_warc']:.1f}%",
             st["share_warc"] <= 0.05),
            ("T3 (5) unchanged recapture adds <= 25% of index bytes", f"{100 * share_db:.1f}%",
             share_db <= 0.25)]


def _memory(res: dict[str, Any]) -> list[Row]:
    mem = res.get("memory") or {}
    out: list[Row] = []
    if len(mem.get("rows", [])) >= 2:
        a, b = mem["rows"][0], mem["rows"][-1]
        ta, tb = (r.get("tree_pss_mb") or r["tree_peak_mb"] for r in (a, b))
        out.append((f"T4 (6) tree memory flat, {a['urls']:,} -> {b['urls']:,} URLs (within {FLAT:.2f}x)",
                    f"tree PSS {ta:.0f} -> {tb:.0f} MB ({tb / max(ta, 1e-9):.2f}x); crawl process "
                    f"{a['child_peak_mb']:.0f} -> {b['child_peak_mb']:.0f} MB", tb <= FLAT * ta))
    for r in [*mem.get("rows", []), *([mem["page"]] if mem.get("page") else [])]:
        what = f"{r['urls']:,} URLs" if r["links"] == r["urls"] else f"a page of {r['links']:,} links"
        tree = r.get("tree_pss_mb") or r["tree_peak_mb"]
        out.append((f"T4 (6) whole tree <= {TREE_MB} MB, no lock errors: {what}",
                    f"PSS {tree:.0f} MB (summed RSS {r['tree_peak_mb']:.0f}, largest process "
                    f"{r['maxrss_mb']:.0f}), 'database is locked' x{r.get('locked', 0)}"
                    + (f", heartbeats skipped as busy x{r['busy']}" if r.get("busy") else ""),
                    tree <= TREE_MB and not r.get("locked")))
    for failed in mem.get("skipped", []):  # a size whose crawl failed is a missed row, never omitted
        what, _, why = failed.partition(": ")
        out.append((f"T4 (6) whole tree <= {TREE_MB} MB, no lock errors: {what}",
                    f"the crawl failed: {why.splitlines()[0][:300] if why else failed}", False))
    return out or [("T4 (6) whole tree <= 300 MB at 10k, 100k URLs, a million-link page", "not run", None)]


def _scaleout(res: dict[str, Any]) -> list[Row]:
    name = "T5 (5a) scale-out >= 1.8x at 2 workers, 3x at 4, nothing twice or missed"
    so = res.get("scaleout")
    if not so or not so.get("rows"):
        return [(name, "not run", None)]
    want = {2: 1.8, 4: 3.0}
    got = {r["workers"]: r for r in so["rows"]}
    shown = ", ".join(f"{n} workers {got[n]['ratio'].fmt('.2f', 'x')}" for n in sorted(got) if n > 1)
    clean = all(r["twice"] == 0 and r["missed"] == 0 and r["reruns"] == 0 for r in so["rows"])
    ok = clean and all(n in got and got[n]["ratio"].median >= w for n, w in want.items())
    return [(name, shown + ("" if clean else "; duplicates or misses, see (5a)"), ok)]


def _browser_search(res: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    name = "T6 browser capture: pages/min and tree memory measured"
    if (br := res.get("browser")) and br.get("rows"):
        b = br["rows"][0]
        out.append((name, f"{b['pages_per_min']:.0f} pages/min, tree peak PSS {b['tree_peak_pss_mb']:.0f} MB "
                    f"(summed RSS {b['tree_peak_rss_mb']:.0f}), {b['browser_pages']}/{b['pages']} rendered, "
                    f"{b['failed']} failed", b["failed"] == 0 and b["browser_pages"] == b["pages"]))
    else:
        out.append((name, "not run", None))
    name = "T6 HTTP capture with extraction on at most 10% slower than off"
    if (ex := res.get("extraction")) and "throughput" in ex:
        ratio = ex["throughput"]["on/off pages/s (median of rounds)"]
        out.append((name, f"on/off pages/s {ratio:.2f} ({ex['throughput']['indexing on pages/s']:.0f} vs "
                    f"{ex['throughput']['indexing off pages/s']:.0f} pages/s)", ratio >= 0.9))
    else:
        out.append((name, "not run", None))
    s = res.get("search") or {}
    for engine in ("sqlite", "postgresql"):
        e = s.get(engine) or {}
        name = f"T6 search p50 <= {SEARCH_P50:.0f} ms, p99 <= {SEARCH_P99:.0f} ms at 100k pages: {engine}"
        if "in_process" not in e:
            out.append((name, e.get("error", "not run"), None))
            continue
        sides = {"in-process": e["in_process"]["all"], "HTTP": (e.get("http") or {}).get("server")}
        shown = ", ".join(f"{k} {v['p50_ms']:.1f} / {v['p99_ms']:.1f} ms" for k, v in sides.items() if v)
        ok = all(v["p50_ms"] <= SEARCH_P50 and v["p99_ms"] <= SEARCH_P99 for v in sides.values() if v)
        at = f" (at {s['pages']:,} pages only)" if s["pages"] < 100_000 else ""
        out.append((name, shown + at, ok if not at else None))
    return out


def _lookups(res: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    rep = res.get("replay")
    if rep and "pywb_raw" in rep:
        cmp = {k: (rep[f"citevault_{k}"]["p50"], rep[f"pywb_{k}"]["p50"]) for k in ("raw", "rewritten")}
        out.append(("T7 (4) replay no slower than pywb on the same record (p50)",
                    ", ".join(f"{k} {c:.2f} vs {p:.2f} ms" for k, (c, p) in cmp.items()),
                    all(c <= p for c, p in cmp.values())))
    else:
        out.append(("T7 (4) replay no slower than pywb", "not run" if not rep else "pywb not run", None))
    if rep and "citevault_raw" in rep:
        raw, rw = rep["citevault_raw"]["p50"], rep["citevault_rewritten"]["p50"]
        out.append(("(4) replay p50 <= 10 ms, 100 KB (issue 5)", f"raw {raw:.1f} ms, rewritten {rw:.1f} ms",
                    max(raw, rw) <= 10))
    idx = res.get("index")
    if not idx or not idx.get("rows"):
        return [*out, ("T7 (3) /cdx p50 <= 3 ms over HTTP at 10M captures", "not run", None)]
    top = max(r["captures"] for r in idx["rows"])
    for big in [r for r in idx["rows"] if r["captures"] == top]:
        p50s = {k: big[f"citevault_{k}"]["p50"] for k in ("exact", "prefix", "closest")}
        where = f"{top:,} captures ({big.get('backend', 'sqlite')})"
        shown = ", ".join(f"{k} {v:.1f} ms" for k, v in p50s.items())
        short = top < 10_000_000
        out.append((f"T7 (3) /cdx p50 <= 3 ms over HTTP at {where}",
                    shown + (" (the target is at 10,000,000)" if short else ""),
                    None if short else max(p50s.values()) <= 3))
    if idx.get("pg_missing"):
        out.append(("T7 (3) /cdx on PostgreSQL", idx["pg_missing"], None))
    if idx.get("pywb_missing") is None:
        worse = [f"{k} at {row['captures']:,}" for row in idx["rows"] for k in ("exact", "prefix", "closest")
                 if f"pywb_{k}" in row and row[f"citevault_{k}"]["p50"] > row[f"pywb_{k}"]["p50"]]
        out.append(("(3) /cdx no slower than pywb's CDXJ (issue 5)",
                    "slower: " + ", ".join(worse) if worse else "faster or equal on every query and size",
                    not worse))
    return out


def _plots(res: dict[str, Any]) -> list[Row]:
    plots = res.get("plots")
    if plots is None:
        return [("T8 a plot per section", "not written yet", None)]
    ran = [k for k in ("latency", "cpu", "index", "replay", "storage", "memory", "browser", "extraction",
                       "search", "startup", "record", "scaleout") if res.get(k)]
    missing = [k for k in ran if k not in plots]
    return [("T8 a plot per section (results-<section>.png)",
             f"{len(plots)} plots for {len(ran)} sections that ran"
             + (f"; none for {', '.join(missing)}" if missing else ""), not missing)]


def targets(res: dict[str, Any]) -> list[Row]:
    """(target, measured, met?) for each target of issue 15; None where not run or not measurable."""
    return [*_cpu(res), *_latency(res), *_storage(res), *_memory(res), *_scaleout(res),
            *_browser_search(res), *_lookups(res), *_plots(res)]
