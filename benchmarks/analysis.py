"""What stands in the way of each target, worded from this run's numbers and the profile."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["analyse"]


def _share(prof: dict[str, Any], name: str) -> float | None:
    for key, share in prof.get("inclusive", []):
        if key.startswith(name + " ("):
            return float(share)
    return None


def _latency(res: dict[str, Any]) -> list[str]:
    lat, cpu = res.get("latency"), res.get("cpu")
    if not lat or "floor" not in lat:
        return []
    fl = lat["floor"]
    wall = lat["citevault"]["wall"].median
    out = [
        f"T2 (1) citevault took {wall:.1f} s for {fl['urls']} URLs where the network floor is "
        f"{fl['floor']:.1f} s ({fl['binding']} binds: {fl['concurrency']} in flight, {fl['per_host']} per "
        f"host, {1000 * fl['delay']:.0f} ms each), {wall / fl['floor']:.2f}x. "
        + (f"Of the {wall - fl['floor']:.1f} s above it, about "
           f"{cpu['citevault']['startup'].median:.1f} s is start-up CPU (2a) and "
           f"{cpu['citevault']['marginal'].median * lat['spec'].pages:.1f} s the capture flow's CPU for "
           "these pages (2), which runs on the crawl's single reactor thread and so delays "
           "the next fetches; each `os.fsync` (storage/warcstore.py, once per committed batch) blocks that "
           "thread too. "
           if cpu else "The time above it is start-up and per-record work on the crawl's single reactor "
           "thread (run the cpu part beside it for the split). ")
        + f"wget is sequential, one fetch at a time, hence {lat['ratio'].median:.0f}x wget."
    ]
    if lat["peak_per_host"] > fl["per_host"]:
        out.append(f"T2 (1) The fake web saw {lat['peak_per_host']} requests in flight at one host against "
                   f"a limit of {fl['per_host']}: the per-host limit is not enforced (crawler/politeness.py "
                   "`PoliteDownloader`, CONCURRENT_REQUESTS_PER_DOMAIN in crawler/job.py).")
    return out


def _startup(res: dict[str, Any]) -> list[str]:
    up = res.get("startup")
    if not up or "ratio" not in up or up["ratio"].median <= 2:
        return []
    return [f"T1 (2a) A one-page `citevault add` with the schema current takes {up['second'].median:.2f} "
            f"s of CPU against Scrapy's {up['scrapy'].median:.2f} s ({up['ratio'].median:.2f}x); "
            f"`citevault --help` alone {up['help'].median:.2f} s. The rest is the CLI's imports and the "
            "crawl child's (Scrapy, Twisted, citevault's pipeline): `python -X importtime -m citevault "
            "add ...` ranks them."]


def _scaleout(res: dict[str, Any]) -> list[str]:
    so = res.get("scaleout")
    if not so or not so.get("rows"):
        return []
    top = so["rows"][-1]
    busy = top["cpu"].median / max(top["wall"].median, 1e-9)
    return [f"T5 (5a) At {top['workers']} workers: {top['ratio'].median:.2f}x one worker, "
            f"{top['cpu'].median:.0f} s of CPU in {top['wall'].median:.0f} s wall, i.e. {busy:.2f} of the "
            f"{os.cpu_count()} cores for the workers' trees alone, beside PostgreSQL, Redis and the fake "
            "web: "
            + ("the cores, not the 100 ms latency, bound the scale-out; less CPU per URL (T1) raises it."
               if busy > 0.6 * (os.cpu_count() or 1) else
               "the cores are not saturated; look at the queue (Redis) and the per-snapshot serial steps.")]


def _extras(res: dict[str, Any]) -> list[str]:
    out = []
    if (ex := res.get("extraction")) and "throughput" in ex:
        tp = ex["throughput"]
        ratio = tp["on/off pages/s (median of rounds)"]
        out.append(
            f"T6 Page indexing on: {ratio:.2f}x the pages/s with it off "
            f"({tp['indexing on cpu s']:.1f} vs {tp['indexing off cpu s']:.1f} s of CPU). The indexer "
            f"(trafilatura, {ex['cost']['ms_median']:.0f} ms per real article) runs in its own process "
            "beside the crawl, so on 2 cores it costs throughput only when the cores are busy; its last "
            "pass after the crawl is inside the measured wall time."
            + ("" if ratio >= 0.9 else " Below 0.9: the indexer's CPU competes with the crawl here "
               "(crawler/pageindex.py), and its writes wait for the gaps in the crawl's SQLite "
               "transactions; a lower priority for it was measured and lost throughput "
               "(history/2026-12-07-p-ext6-eve.md)."))
    if (br := res.get("browser")) and br.get("rows"):
        b = br["rows"][0]
        plain = [r for r in br["rows"] if "never" in r["name"]]
        out.append(f"T6 Browser pages: {b['pages_per_min']:.0f} pages/min with 2 pages at a time"
                   + (f", against {plain[0]['pages_per_min']:.0f} plain pages/min without a browser" if plain
                      else "")
                   + f"; the tree's peak PSS {b['tree_peak_pss_mb']:.0f} MB is mostly Chromium's (a renderer "
                   "per page, the GPU and network processes).")
    s = res.get("search") or {}
    for engine in ("sqlite", "postgresql"):
        e = s.get(engine) or {}
        if "in_process" not in e:
            continue
        ip = e["in_process"]["all"]
        srv = (e.get("http") or {}).get("server")
        if all(d["p50_ms"] <= 10 and d["p99_ms"] <= 50 for d in (ip, srv) if d):
            continue
        slowest = max((k for k in e["in_process"] if k not in ("all", "hits_median")),
                      key=lambda k: e["in_process"][k]["p99_ms"])
        http = f", over HTTP {srv['p50_ms']:.1f} / {srv['p99_ms']:.1f} ms" if srv else ""
        out.append(f"T6 Search on {engine} at {s['pages']:,} pages: in-process {ip['p50_ms']:.1f} / "
                   f"{ip['p99_ms']:.1f} ms{http} (load {res['meta']['load_end']} at the end): the slowest "
                   f"kind is {slowest}"
                   " (storage/search.py); under load a process gets a fraction of a core, so compare with "
                   "an idle run before changing the query plan.")
    return out


def _cpu(res: dict[str, Any]) -> list[str]:
    cpu, prof = res.get("cpu"), res.get("profile") or {}
    if not cpu:
        return []
    urls_per_page = cpu["urls"] / cpu["spec"].pages
    cv, sc = cpu["citevault"]["marginal"].median * 1000, cpu["scrapy"]["marginal"].median * 1000
    out = [
        f"T1 (2) Marginal CPU {cv:.1f} ms per page ({cv / urls_per_page:.1f} ms per URL) against Scrapy's "
        f"{sc:.1f} ms ({sc / urls_per_page:.1f} ms per URL); start-up "
        f"{cpu['citevault']['startup'].median:.1f} s against {cpu['scrapy']['startup'].median:.1f} s "
        "(the CLI imports the app and migrates the index, then a second interpreter imports Scrapy "
        "for the crawl)."
    ]
    p = prof.get("pyspy")
    if p:
        parts = []
        for name, label in (
            ("CaptureRecorder.record",
             "`CaptureRecorder.record` (crawler/recorder.py), all of the capture flow"),
            ("WarcStore.write_exchange",
             "of which `WarcStore.write_exchange` (warcio record building, gzip)"),
            ("latest_with_digest", "`latest_with_digest` (storage/index.py, one SELECT per record for the "
             "revisit decision)"),
            ("CaptureRecorder.record_links",
             "`CaptureRecorder.record_links`"),
            ("extract_page_links", "`extract_page_links` (crawler/links.py, lxml)"),
        ):
            share = _share(p, name)
            if share is not None:
                parts.append(f"{label} {100 * share:.0f}%")
        libs = "; ".join(f"{k} {100 * v:.0f}%" for k, v in p["libraries"])  # innermost component
        out.append(
            "T1 (2) Profile (share of the crawl's samples, inclusive): " + "; ".join(parts)
            + f"; fsync {100 * p['fsync_share']:.0f}%. By innermost component: {libs}. "
            "What remains above the floor is work the floor does not do at all: a revisit "
            "SELECT and a Core INSERT per record (batched commits), building and gzipping two WARC "
            "records per URL, parsing every HTML page for links, and fsync before each batch commit."
        )
    f, nf = prof.get("fsync", {}), prof.get("no_fsync", {})
    if "wall" in f and "wall" in nf:
        verdict = (
            "fsync costs wall time rather than CPU: the reactor waits for the disk."
            if nf["wall"] < 0.85 * f["wall"] else
            "the difference is within this machine's noise in this run."
        )
        out.append(
            f"T1 (2) Without fsync the same crawl took {nf['wall']:.1f} s instead of "
            f"{f['wall']:.1f} s wall ({nf['cpu']:.1f} vs {f['cpu']:.1f} s CPU): {verdict}"
        )
    return out


def _index(res: dict[str, Any]) -> list[str]:
    idx = res.get("index")
    if not idx or not idx.get("rows"):
        return []
    big = idx["rows"][-1]
    bits = []
    for kind in ("exact", "prefix", "closest"):
        cv, ip = big[f"citevault_{kind}"]["p50"], big[f"inproc_{kind}"]["p50"]
        pw = big.get(f"pywb_{kind}", {}).get("p50")
        bits.append(f"{kind} {cv:.1f} ms over HTTP ({ip:.1f} ms in-process)"
                    + (f" vs pywb {pw:.1f} ms" if pw is not None else ""))
    return [
        f"T7 (3) At {big['captures']:,} captures: " + "; ".join(bits) + ". Lookups are B-tree range scans on "
        "the (surt, timestamp) index, so they grow with log N; the difference between HTTP and "
        "in-process time is FastAPI/uvicorn per-request overhead."
    ]


def _replay(res: dict[str, Any]) -> list[str]:
    rep = res.get("replay")
    if not rep or "citevault_raw" not in rep:
        return []
    raw, rw = rep["citevault_raw"]["p50"], rep["citevault_rewritten"]["p50"]
    if "pywb_raw" in rep and (raw > rep["pywb_raw"]["p50"] or rw > rep["pywb_rewritten"]["p50"]):
        return [f"T7 (4) Replay p50 {raw:.2f} / {rw:.2f} ms (raw / rewritten) against pywb's "
                f"{rep['pywb_raw']['p50']:.2f} / {rep['pywb_rewritten']['p50']:.2f} ms. The server CPU per "
                "request (the (4) table) says whether it is work or waiting: citevault/replay.py (lookup, "
                "one WARC seek, gunzip) and the rewriter's lxml pass for the rewritten view."]
    return [f"T7 (4) Replay p50 {raw:.1f} ms raw and {rw:.1f} ms rewritten for 100 KB: index lookup, one "
            "seek into the WARC, gunzip of one record, and for the rewritten view lxml link rewriting."]


def _storage(res: dict[str, Any]) -> list[str]:
    st = res.get("storage")
    if not st or not st.get("revisits"):
        return []
    per = st["added_warc"] / st["revisits"]
    avg = st["payload_bytes"] / max(st["archived"][0], 1)
    return [
        f"T3 (5) Each unchanged URL costs {per:.0f} bytes on recapture (a revisit record plus its request "
        f"record, each its own gzip member, mostly WARC headers) against {avg / 1000:.0f} KB of payload per "
        f"URL on this site, hence {100 * st['share_warc']:.1f}%. The share depends on payload size: "
        f"{per:.0f} B is under 5% for any URL above {per / 0.05 / 1000:.0f} KB. Dropping the request "
        "record of revisits (storage/warcstore.py `write_revisit`, `request_head`) would roughly halve it, "
        "at the cost of the request evidence for those captures; the index adds "
        f"{st['added_db'] / st['revisits']:.0f} B per revisit row."
    ]


def _memory(res: dict[str, Any]) -> list[str]:
    mem = res.get("memory")
    if not mem or len(mem.get("rows", [])) < 2:
        return []
    a, b = mem["rows"][0], mem["rows"][-1]
    per_k = (b["child_peak_mb"] - a["child_peak_mb"]) / max(b["urls"] - a["urls"], 1) * 1000
    when = ""
    if b.get("timeline"):
        t_peak = max(b["timeline"], key=lambda p: p[1])[0]
        when = f" It peaked {100 * t_peak / b['wall']:.0f}% of the way through the largest crawl."
    return [
        f"T4 (6) The crawl process grew from {a['child_peak_mb']:.0f} MB ({a['urls']:,} URLs) to "
        f"{b['child_peak_mb']:.0f} MB ({b['urls']:,} URLs), {per_k:.1f} MB per 1,000 URLs.{when} "
        + (
            "Pending requests wait in Scrapy's disk queue (JOBDIR, crawler/job.py), so the heap holds "
            "what is in flight plus per-crawl dedup state (`_seen` in crawler/spider.py, which grows "
            "with the crawl by design)."
            if b["child_peak_mb"] <= 1.25 * a["child_peak_mb"] else
            "Growth this size means pending requests are held on the heap: check that the disk queue "
            "(JOBDIR, crawler/job.py) is in use; before it, tracemalloc on a 4,000-URL crawl put the "
            "Python-heap peak in Scrapy Request/Headers objects and asyncio tasks for the hub's links."
        )
    ]


def analyse(res: dict[str, Any]) -> list[str]:
    return [*_cpu(res), *_startup(res), *_latency(res), *_storage(res), *_memory(res), *_scaleout(res),
            *_extras(res), *_index(res), *_replay(res)]
