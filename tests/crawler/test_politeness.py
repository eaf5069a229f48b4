"""Politeness: requests in flight per host and per IP address stay within the limit, counted at
the fake web; Retry-After is honoured within a bound."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from typer.testing import CliRunner

from citevault.cli import get_app
from citevault.crawler.politeness import retry_after_seconds
from tests.fakeweb import FakeRequest, FakeWeb
from tests.fakeweb.resources import Exchange, Resource


class InFlight:
    """A body factory that counts the requests being answered at once (each takes `hold` s)."""

    def __init__(self, hold: float = 0.3) -> None:
        self.hold = hold
        self.now = self.peak = self.total = 0
        self.lock = threading.Lock()

    def __call__(self, req: FakeRequest) -> str:
        with self.lock:
            self.now += 1
            self.total += 1
            self.peak = max(self.peak, self.now)
        time.sleep(self.hold)
        with self.lock:
            self.now -= 1
        return "<html><body><p>a cited page</p></body></html>"


def _hub(urls: list[str]) -> str:
    links = " ".join(f'<a href="{u}">cited source number {i} of this paragraph</a>'
                     for i, u in enumerate(urls))
    return f"<html><body><article><p>{links}</p></article></body></html>"


def add(*args: str) -> Any:
    result = CliRunner().invoke(get_app(), ["add", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["sources"][0]["snapshot"]


@pytest.mark.parametrize("limit", [1, 2])
def test_per_host_limit_is_enforced(web: FakeWeb, monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    monkeypatch.setenv("CITEVAULT_CONCURRENCY_PER_HOST", str(limit))
    counter = InFlight()
    pages = [f"https://busy.example.test/p{i}" for i in range(8)]
    for url in pages:
        web.add(url, counter)
    web.add("https://hub.example.test/", _hub(pages))
    snap = add("https://hub.example.test/")
    assert snap["state"] == "done" and counter.total == 8
    assert counter.peak <= limit  # was 8 of 8 at once whatever the limit


def test_hosts_sharing_an_address_share_its_limit(web: FakeWeb, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a proxy citevault resolves names itself: localhost and 127.0.0.1 are one IP."""
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("CITEVAULT_CONCURRENCY_PER_HOST", "1")
    counter = InFlight()
    pages = [f"http://{host}:{web.port}/p{i}" for i in range(3) for host in ("localhost", "127.0.0.1")]
    for url in pages:
        web.add(url, counter)
    web.add(f"http://localhost:{web.port}/", _hub(pages))
    snap = add(f"http://localhost:{web.port}/")
    assert snap["state"] == "done" and counter.total == 6
    assert counter.peak == 1


def test_retry_after_is_waited_for_within_the_bound(web: FakeWeb) -> None:
    seen: list[float] = []

    def busy_then_fine(req: FakeRequest) -> str:
        if seen:  # the fake web reads the status after the body: the second answer is a 200
            route.status = 200
        seen.append(time.monotonic())
        return "<p>fine now</p>"

    route = web.add("https://slowdown.example.test/", busy_then_fine, status=429,
                    headers={"Retry-After": "1"})
    snap = add("https://slowdown.example.test/", "--depth", "0")
    assert [c["status"] for c in snap["captures"] if c["url"] == "https://slowdown.example.test/"] == [200]
    assert len(seen) == 2 and seen[1] - seen[0] >= 1.0


def test_a_retry_after_beyond_the_bound_is_archived_not_waited_for(web: FakeWeb,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEVAULT_RETRY_AFTER_MAX", "5")
    web.add("https://later.example.test/", "<p>come back tomorrow</p>", status=503,
            headers={"Retry-After": "86400"})
    result = CliRunner().invoke(get_app(), ["add", "https://later.example.test/", "--depth", "0", "--json"])
    caps = json.loads(result.stdout)["sources"][0]["snapshot"]["captures"]
    assert [c["status"] for c in caps if c["url"] == "https://later.example.test/"] == [503]
    assert web.hits("https://later.example.test/") == 1


class BusyOnce(Resource):
    """Logs when each request starts at the fake web; the first one of all its routes is answered
    429 with Retry-After, every later one 200. `answered` is set once the 429 is sent."""

    def __init__(self, wait: int, log: list[tuple[float, str]]) -> None:
        self.wait, self.log = wait, log
        self.lock = threading.Lock()
        self.busy_at: float | None = None
        self.answered = threading.Event()

    def render(self, ex: Exchange) -> None:
        with self.lock:
            self.log.append((time.monotonic(), ex.fake_request.url))
            first = self.busy_at is None
            if first:
                self.busy_at = time.monotonic()
        if first:
            ex.respond(429, [("Retry-After", str(self.wait)), ("Content-Type", "text/html")], b"<p>busy</p>")
            self.answered.set()
        else:
            ex.respond(200, [("Content-Type", "text/html")], b"<p>a cited page</p>")


class Logged(Resource):
    """Logs when each request starts; answers 200 once `after` is set (if given)."""

    def __init__(self, log: list[tuple[float, str]], after: threading.Event | None = None) -> None:
        self.log, self.after = log, after

    def render(self, ex: Exchange) -> None:
        self.log.append((time.monotonic(), ex.fake_request.url))
        if self.after is not None:
            self.after.wait(10)
        ex.respond(200, [("Content-Type", "text/html")], b"<p>another host</p>")


def test_retry_after_pauses_the_whole_host_and_only_it(web: FakeWeb, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 429 with Retry-After: 4 from one host: no request to that host starts for 4 s after it
    was answered (the limit of 1 means none was in flight), while another host's requests go on.
    (4 s, not 2: host B's next request must start inside the pause, and 2 s was the only margin
    a loaded machine had for that.)"""
    monkeypatch.setenv("CITEVAULT_CONCURRENCY_PER_HOST", "1")
    a_log: list[tuple[float, str]] = []
    b_log: list[tuple[float, str]] = []
    busy = BusyOnce(4, a_log)  # host B must get its requests in meanwhile, even under load
    a_pages = [f"https://paused.example.test/p{i}" for i in range(3)]
    b_pages = [f"https://other.example.test/p{i}" for i in range(3)]
    for url in a_pages:
        web.add(url, busy)
    web.add(b_pages[0], Logged(b_log, after=busy.answered))  # holds host B until the 429 is sent
    for url in b_pages[1:]:
        web.add(url, Logged(b_log))
    web.add("https://hub.example.test/", _hub(a_pages + b_pages))
    snap = add("https://hub.example.test/")
    assert snap["state"] == "done"
    assert sorted(c["status"] for c in snap["captures"] if c["url"] in a_pages) == [200, 200, 200]
    assert busy.busy_at is not None and len(a_log) == 4  # three pages and one retry
    later = [t for t, _ in a_log if t > busy.busy_at]
    assert len(later) == 3 and min(later) >= busy.busy_at + 4.0  # the host waited, all of it
    # Host B's last requests could only start after the 429 was sent, and did not wait for it.
    assert len(b_log) == 3
    assert any(busy.busy_at < t < min(later) for t, _ in b_log)


def test_retry_after_pauses_every_host_name_of_the_address(web: FakeWeb,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a proxy the pause is the IP address's: a 429 from one name holds the other too."""
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("CITEVAULT_CONCURRENCY_PER_HOST", "1")
    log: list[tuple[float, str]] = []
    busy = BusyOnce(1, log)
    pages = [f"http://{host}:{web.port}/p{i}" for i in range(2) for host in ("localhost", "127.0.0.1")]
    for url in pages:
        web.add(url, busy)
    web.add(f"http://localhost:{web.port}/", _hub(pages))
    snap = add(f"http://localhost:{web.port}/")
    assert snap["state"] == "done" and busy.busy_at is not None and len(log) == 5
    assert min(t for t, _ in log if t > busy.busy_at) >= busy.busy_at + 1.0


def test_retry_after_values() -> None:
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds(b"0") == 0.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 - 60) == 60.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 + 60) == 0.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
