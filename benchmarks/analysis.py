"""What stands in the way of each target, worded from this run's numbers and the profile."""

from __future__ import annotations

from typing import Any

__all__ = ["analyse"]


def _share(prof: dict[str, Any], name: str) -> float | None:
    for key, share in prof.get("inclusive", []):
        if key.startswith(name + " ("):
            return float(share)
    return None


def _latency(res: dict[str, Any]) -> list[str]:
    lat, cpu = res.get("latency"), res.get("cpu")
    if not lat:
        return []
    spec, meta = lat["spec"], res["meta"]
    floor = -(-lat["expected_urls"] // meta["concurrency"]) * spec.delay
    wall = lat["citevault"]["wall"].median
    startup = f", of which about {cpu['citevault']['startup'].median:.1f} s CPU is start-up" if cpu else ""
    return [
        f"(1) citevault took {wall:.1f} s for {lat['expected_urls']} URLs where the network alone "
        f"({meta['concurrency']} fetches in flight, {spec.delay * 1000:.0f} ms each) needs {floor:.1f} s"
        f"{startup}. The rest is per-record work on the single reactor thread: everything in (2), and "
        "each `os.fsync` (storage/warcstore.py, once per committed batch of index rows) blocks every "
        "other fetch while it waits for the disk. "
        f"wget is sequential, one fetch at a time, hence {lat['ratio'].median:.0f}x."
    ]


def _cpu(res: dict[str, Any]) -> list[str]:
    cpu, prof = res.get("cpu"), res.get("profile") or {}
    if not cpu:
        return []
    urls_per_page = cpu["urls"] / cpu["spec"].pages
    cv, sc = cpu["citevault"]["marginal"].median * 1000, cpu["scrapy"]["marginal"].median * 1000
    out = [
        f"(2) Marginal CPU {cv:.1f} ms per page ({cv / urls_per_page:.1f} ms per URL) against Scrapy's "
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
            "(2) Profile (share of the crawl's samples, inclusive): " + "; ".join(parts)
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
            f"(2) Without fsync the same crawl took {nf['wall']:.1f} s instead of "
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
        f"(3) At {big['captures']:,} captures: " + "; ".join(bits) + ". Lookups are B-tree range scans on "
        "the (surt, timestamp) index, so they grow with log N; the difference between HTTP and "
        "in-process time is FastAPI/uvicorn per-request overhead."
    ]


def _replay(res: dict[str, Any]) -> list[str]:
    rep = res.get("replay")
    if not rep or "citevault_raw" not in rep:
        return []
    raw, rw = rep["citevault_raw"]["p50"], rep["citevault_rewritten"]["p50"]
    return [f"(4) Replay p50 {raw:.1f} ms raw and {rw:.1f} ms rewritten for 100 KB: index lookup, one "
            "seek into the WARC, gunzip of one record, and for the rewritten view lxml link rewriting."]


def _storage(res: dict[str, Any]) -> list[str]:
    st = res.get("storage")
    if not st or not st.get("revisits"):
        return []
    per = st["added_warc"] / st["revisits"]
    avg = st["payload_bytes"] / max(st["archived"][0], 1)
    return [
        f"(5) Each unchanged URL costs {per:.0f} bytes on recapture (a revisit record plus its request "
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
        f"(6) The crawl process grew from {a['child_peak_mb']:.0f} MB ({a['urls']:,} URLs) to "
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
    return [*_latency(res), *_cpu(res), *_index(res), *_replay(res), *_storage(res), *_memory(res)]
