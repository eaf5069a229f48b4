"""The issue-15 benchmark parts stay correct: the fake web's articles cite the pages the scale-out
check expects, and the report renders their sections (no timings here)."""

from __future__ import annotations

import http.client
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks import run
from benchmarks.analysis import analyse
from benchmarks.floor import network_floor
from benchmarks.measure import summarize
from benchmarks.plots import write_overview, write_section_plots
from benchmarks.report import write_markdown
from benchmarks.report_perf import perf_markdown, perf_plots
from benchmarks.targets import targets
from benchmarks.webfarm import SiteSpec, WebFarm


def test_articles_cite_ten_pages_and_every_expected_url_answers() -> None:
    spec = replace(SiteSpec(pages=20, hosts=5, delay=0.0), articles=2)
    with WebFarm(spec) as web:
        host, port = web.proxy_url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.request("GET", spec.article_url(1))
        resp = conn.getresponse()
        article = resp.read()
        assert resp.status == 200
        for i in range(10, 20):
            assert f'href="{spec.page_url(i)}"'.encode() in article
        urls = spec.article_urls(1)
        assert len(urls) == len(set(urls))
        for url in urls:
            conn.request("GET", url)
            r = conn.getresponse()
            r.read()
            assert r.status == 200, url
        conn.request("GET", spec.article_url(2))  # past the last article
        r = conn.getresponse()
        r.read()
        assert r.status == 404
        conn.close()


def test_new_parts_are_known_and_render(tmp_path: Path) -> None:
    args = run._args(["--quick", "--only", "startup,record,scaleout"])
    assert args.parts == ["startup", "record", "scaleout"] and args.articles and args.scale_workers
    one = summarize([1.0])
    res = {
        "startup": {"citevault": one, "second": one, "scrapy": one, "help": one, "ratio": one},
        "record": {"records": 10, "first": 0.001, "recapture": 0.0005},
        "scaleout": {"spec": replace(SiteSpec(pages=10), articles=1), "articles": 1, "delay": 0.1,
                     "rows": [{"workers": 1, "wall": one, "urls_per_s": one, "ratio": one, "cpu": one,
                               "twice": 0, "missed": 0, "reruns": 0, "not_done": 0, "urls": 5,
                               "expected": 5}]},
    }
    text = "\n".join(perf_markdown(res))
    assert "(2a)" in text and "(2b)" in text and "(5a)" in text
    # The plots need matplotlib, which comes with the bench extra (`make bench`), not the test one.
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    assert [p.name for p in perf_plots(res, tmp_path)] == [
        "results-startup.png", "results-record.png", "results-scaleout.png"]


def test_browser_extraction_search_and_the_floor_render(tmp_path: Path) -> None:
    one = summarize([1.0])
    spec = SiteSpec(pages=10)
    side = {"pages_per_s": one, "mb_per_s": one, "wall": one, "web_cpu_share": one, "notes": []}
    ms = {"p50_ms": 4.0, "p99_ms": 20.0, "max_ms": 30.0}
    res: dict[str, Any] = {
        "meta": {"command": "run.py", "started": "now", "duration": 1.0, "machine": "m", "load_start": "1",
                 "load_end": "1", "versions": "v", "concurrency": 32, "per_host": 4, "mode": "quick",
                 "part_seconds": {"latency": 1.0}},
        "skipped": [],
        "latency": {"spec": spec, "expected_urls": len(spec.all_urls()), "rounds": 1, "citevault": side,
                    "wget": side, "ratio": one, "floor": network_floor(spec, 32, 4), "over_floor": one,
                    "peak_per_host": 5, "peak_inflight": 20},
        "browser": {"pages": 2, "rows": [{"name": "browser pages (auto)", "pages": 2, "browser_pages": 2,
                                          "records": 9, "failed": 0, "tree_peak_pss_mb": 500.0, "wall": 10.0,
                                          "cpu": 5.0, "pages_per_min": 12.0, "tree_peak_rss_mb": 900.0}]},
        "extraction": {"throughput": {"indexing on pages/s": 8.0, "indexing off pages/s": 10.0,
                                      "indexing on cpu s": 3.0, "indexing off cpu s": 2.0,
                                      "on/off pages/s (median of rounds)": 0.8},
                       "cost": {"pages": 31, "ms_median": 40.0, "ms_p90": 80.0, "kb_median": 180},
                       "rounds": 1, "pages": 10},
        "search": {"pages": 1000, "queries": 10,
                   "sqlite": {"index_seconds": 2.0, "in_process": {"all": ms, "rare": ms, "hits_median": 5},
                              "http": {"server": ms, "asgi": ms},
                              "size": {"full_text_index_bytes_per_page": 9}},
                   "postgresql": {"error": "PostgreSQL is not reachable"}},
    }
    res["plots"] = write_section_plots(res, tmp_path) if _has_matplotlib() else {}
    res["analysis"] = analyse(res)
    rows = {t: ok for t, _, ok in targets(res)}
    assert rows["T2 (1) per-host limit enforced"] is False  # 5 in flight at one host, limit 4
    assert rows["T6 HTTP capture with extraction on at most 10% slower than off"] is False
    assert any(t.startswith("T6 search") and ok is None for t, ok in rows.items())  # 1,000 pages: n/a
    write_markdown(res, tmp_path / "RESULTS.md", "results.png")
    text = (tmp_path / "RESULTS.md").read_text()
    assert "Network floor" in text and "Browser capture" in text and "Full-text search" in text
    assert any(a.startswith("T2 (1) The fake web saw 5") for a in res["analysis"])
    if res["plots"]:
        assert set(res["plots"]) == {"latency", "browser", "extraction", "search"}
        assert "![search](results-search.png)" in text
        write_overview(res, tmp_path / "results.png")


def _has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True
