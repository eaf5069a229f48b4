"""The benchmark harness stays importable and its fake web serves what the benchmarks expect
(no timings here: benchmarks/run.py measures, tests only check the machinery)."""

from __future__ import annotations

import http.client
import json
import sys
import threading
import urllib.request

from benchmarks import run
from benchmarks.floor import network_floor
from benchmarks.measure import percentile, run_measured, summarize
from benchmarks.webfarm import SiteSpec, WebFarm, stats_delta


def _proxy_get(conn: http.client.HTTPConnection, url: str) -> tuple[int, str, bytes]:
    conn.request("GET", url)  # absolute URI: the way a client talks to a proxy
    resp = conn.getresponse()
    return resp.status, resp.getheader("Content-Type") or "", resp.read()


def test_fake_web_serves_the_site_through_its_proxy() -> None:
    spec = SiteSpec(pages=6, hosts=3, delay=0.0)
    with WebFarm(spec) as web:
        before = web.stats()
        host, port = web.proxy_url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        status, ctype, hub = _proxy_get(conn, spec.hub_url)
        assert status == 200 and ctype.startswith("text/html")
        for i in range(spec.pages):
            assert spec.page_url(i).encode() in hub
        # Every URL a complete capture fetches answers 200, on one kept-alive connection.
        urls = spec.all_urls()
        for url in urls[1:]:
            status, _, body = _proxy_get(conn, url)
            assert status == 200, url
            assert body
        status, _, page = _proxy_get(conn, spec.page_url(4))
        assert len(page) == spec.page_bytes and b'src="/img/000004.jpg"' in page
        assert _proxy_get(conn, "http://h01.bench.test/p/000004.html")[0] == 404  # page 4 is on h02
        assert _proxy_get(conn, "http://elsewhere.example/")[0] == 404
        conn.close()
        delta = stats_delta(before, web.stats())
    assert delta["requests"] == len(urls) + 3
    assert delta["not_found"] == 2
    assert delta["by_kind"]["p"] == spec.pages + 1 and delta["by_kind"]["img"] == spec.pages
    assert delta["cpu"] >= 0


def test_fake_web_is_an_http_proxy_for_urllib() -> None:
    spec = SiteSpec(pages=2, delay=0.0, requisites=False)
    with WebFarm(spec) as web:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": web.proxy_url}))
        with opener.open(spec.big_url, timeout=30) as resp:
            assert len(resp.read()) == spec.big_page_bytes
        stats = web.stats()
    assert json.loads(json.dumps(stats))["requests"] == 1


def test_harness_helpers_and_presets() -> None:
    assert summarize([3.0, 1.0, 2.0]).median == 2.0
    assert summarize([]).fmt() == "not run"
    assert percentile([float(i) for i in range(101)], 99) == 99.0
    args = run._args(["--quick", "--only", "latency,index", "--memory-sizes", "1k,2k"])
    assert args.parts == ["latency", "index"] and args.memory_sizes == [1000, 2000]
    assert args.rounds == run.PRESETS["quick"]["rounds"]


def test_a_commands_peak_memory_is_its_own_not_the_benchmarks() -> None:
    """Linux keeps a process's peak RSS across exec, so wait4's ru_maxrss of a command includes
    the benchmark's own RSS at the fork (3.6 GB in a full run, after the index part): the peak is
    each process's own high-water mark instead. The child holds its 100 MB for 3 s, where the
    sampler reads the mark every 50 ms."""
    ballast = bytearray(300 * 2**20)
    ballast[::4096] = b"x" * len(ballast[::4096])  # resident, not only reserved
    small = run_measured(["/bin/sleep", "0.3"])
    grown = run_measured([sys.executable, "-c", "import time; b = bytearray(100 * 2**20); "
                          "b[::4096] = b'y' * len(b[::4096]); time.sleep(3)"])
    del ballast
    assert small.returncode == 0 and small.maxrss_mb < 50
    assert grown.returncode == 0 and 100 <= grown.maxrss_mb < 250


def test_network_floor_follows_the_sites_structure_and_limits() -> None:
    spec = SiteSpec(pages=40, hosts=4, delay=0.1)
    wide = network_floor(spec, concurrency=1000, per_host=1000)
    assert wide["urls"] == len(spec.all_urls()) and wide["waves"] == 4  # hub, pages, requisites, CSS bg
    one = network_floor(spec, concurrency=1, per_host=1)
    assert one["waves"] == one["urls"] and one["floor"] == round(one["urls"] * 0.1, 3)
    tight = network_floor(spec, concurrency=1000, per_host=2)  # 24 URLs a host, 2 at a time: it binds
    assert tight["binding"] == "per-host limit" and tight["peak_per_host"] == 2
    assert tight["waves"] >= tight["bounds_waves"]["per-host limit"] == 12
    assert tight["floor"] >= tight["lower_bound"]


def test_fake_web_counts_requests_in_flight_per_host() -> None:
    spec = SiteSpec(pages=6, hosts=2, delay=0.3)
    with WebFarm(spec) as web:
        web.stats(reset_peaks=True)
        host, port = web.proxy_url.removeprefix("http://").split(":")

        def fetch(url: str) -> None:
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            assert _proxy_get(conn, url)[0] == 200
            conn.close()

        urls = [spec.page_url(i) for i in (0, 2, 4, 1)]  # three on h01, one on h02, all at once
        threads = [threading.Thread(target=fetch, args=(u,)) for u in urls]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stats = web.stats(reset_peaks=True)
        assert stats["peak_inflight_by_host"] == {"h01.bench.test": 3, "h02.bench.test": 1}
        assert stats["peak_inflight"] == 4
        assert web.stats()["peak_inflight"] == 0  # reset, nothing in flight since
