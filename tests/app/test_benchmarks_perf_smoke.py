"""The issue-15 benchmark parts stay correct: the fake web's articles cite the pages the scale-out
check expects, and the report renders their sections (no timings here)."""

from __future__ import annotations

import http.client
from dataclasses import replace
from pathlib import Path

from benchmarks import run
from benchmarks.measure import summarize
from benchmarks.report_perf import perf_markdown, perf_plots
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
