"""Fault injection: a crawl through a hostile web. Every broken answer ends with a recorded
reason (or a capture), in bounded time, and the crawl goes on to the rest."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from citevault.cli import get_app
from citevault.crawler.linkstream import extract_streamed
from tests.fakeweb import FakeWeb
from tests.sites.hostile import HostileWeb
from tests.sites.hostile_behaviours import install

LONG_URL = "http://hostile.example.test/long?q=" + "a" * 3000
IDN_URL = "http://b\u00fccher.example.test/stra\u00dfe"
IDN_ROUTE = "http://xn--bcher-kva.example.test/stra%C3%9Fe"


@pytest.fixture
def hostile(web: FakeWeb, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[HostileWeb, dict[str, str]]]:
    with HostileWeb(web).running() as hw:
        for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
            monkeypatch.setenv(var, hw.proxy_url)
        monkeypatch.setenv("CITEVAULT_TIMEOUT", "4")
        monkeypatch.setenv("CITEVAULT_MAX_RESPONSE_SIZE", "1000000")
        monkeypatch.setenv("CITEVAULT_RETRIES", "2")
        yield hw, install(hw)


def _hub(urls: list[str]) -> str:
    items = " ".join(f'<a href="{u}">a source cited in this article, number {i}</a>,'
                     for i, u in enumerate(urls))
    return (f"<html><head><title>Hub</title></head><body><article><p>This long paragraph of the "
            f"article cites every one of these sources in turn: {items} and that is all.</p>"
            f"</article></body></html>")


def test_every_hostile_answer_ends_with_a_reason_and_the_crawl_goes_on(
    hostile: tuple[HostileWeb, dict[str, str]], web: FakeWeb
) -> None:
    hw, urls = hostile
    web.add("http://fine.example.test/", "<p>a well-behaved page</p>")
    web.add(IDN_ROUTE, "<p>ein Buch</p>")
    web.add("https://badtls.example.test/", "<p>served with a certificate nobody trusts</p>")
    cited = [*urls.values(), LONG_URL, IDN_URL, "https://badtls.example.test/", "http://fine.example.test/"]
    web.add("http://hub.example.test/", _hub(cited))
    started = time.monotonic()
    result = CliRunner().invoke(get_app(), ["add", "http://hub.example.test/", "--json"])
    took = time.monotonic() - started
    assert result.exit_code == 0, result.output
    snap = json.loads(result.stdout)["sources"][0]["snapshot"]
    assert snap["state"] == "partial"
    rows: dict[str, list[dict[str, Any]]] = {}
    for cap in snap["captures"]:
        rows.setdefault(cap["url"], []).append(cap)

    def error(name: str) -> str:
        got = [c["error"] for c in rows.get(urls[name], []) if c["error"]]
        assert got, (name, rows.get(urls[name]))
        return str(got[0])

    def status(url: str) -> int | None:
        got = [c["status"] for c in rows.get(url, []) if c["warc"]]
        assert got, (url, rows.get(url))
        return got[-1]

    for name in ("drop", "short"):
        assert "connection lost" in error(name) or "closed" in error(name), name
    for name in ("drip", "silent"):
        assert error(name) == "timed out after 4s", name
    for name in ("bomb-gzip", "bomb-deflate", "bomb-br"):
        assert "DOWNLOAD_MAXSIZE" in error(name) or "too large" in error(name), (name, error(name))
    assert error("bad-chunks") == "connection lost before the response was complete"
    for name in ("garbage-status", "not-http"):
        assert error(name) == "invalid HTTP response from the server: non-integer status code", name
    assert error("huge-headers") == "connection closed before the response was complete"
    assert "max size" in error("huge-length")
    assert error("huge-no-length").startswith("response too large: more than 1000000 bytes")
    loop_rows = [c for c in snap["captures"] if "redirect loop" in (c["error"] or "")]
    assert [c["url"] for c in loop_rows] == [urls["loop"]]
    cut = [c for c in snap["captures"] if "redirect chain cut after 10 hops" in (c["error"] or "")]
    assert [c["url"] for c in cut] == [hw.url("/chain/11")]
    for name in ("deep", "lying-charset", "bogus-charset", "429", "flapping"):
        assert status(urls[name]) == 200, name
    assert "characters long" in str(rows[LONG_URL[:2048]][0]["error"])
    assert status(IDN_ROUTE) == 200  # read as UTF-8 (its header says so), not Latin-1
    assert status("https://badtls.example.test/") == 200
    assert status("http://fine.example.test/") == 200
    # Each behaviour answered once per attempt (no endless retries), and the whole crawl ended
    # by itself, far within its time limit.
    assert hw.count("/drip") <= 3 and hw.count("/loop-a") == 1
    assert took < 600


def test_a_page_of_a_million_links_is_cut_and_recorded(web: FakeWeb, home: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEVAULT_MAX_LINKS_PER_PAGE", "1000")
    body = b"<html><body><article><p>" + b"".join(
        b'<a href="/l/%d">l</a>' % i for i in range(1_000_000)) + b"</p></article></body></html>"
    assert len(body) > 20_000_000
    web.add("http://million.example.test/", body)
    result = CliRunner().invoke(get_app(), ["add", "http://million.example.test/", "--depth", "0", "--json"])
    assert result.exit_code == 0, result.output
    snap = json.loads(result.stdout)["sources"][0]["snapshot"]
    seed = [c for c in snap["captures"] if c["role"] == "seed"]
    assert seed[0]["status"] == 200 and seed[0]["length"] > 20_000_000 or seed[0]["warc"]
    notes = [c["error"] for c in snap["captures"] if c["error"] and "links cut" in c["error"]]
    assert notes == ["links cut: 1000000 found on the page, the first 1000 recorded "
                     "(limit CITEVAULT_MAX_LINKS_PER_PAGE)"]
    with sqlite3.connect(home / "citevault.db") as db:
        assert db.execute("SELECT count(*) FROM links").fetchone() == (1000,)


def test_streamed_extraction_sorts_links_like_the_tree() -> None:
    html = (b"<html><head><title>T</title><link rel=stylesheet href=/s.css></head><body>"
            b"<nav><a href=/home>Home</a></nav><article><p><a href=/cited>a source</a>"
            b"<img src=/i.png srcset='/i2.png 2x'></p><aside><a href=/aside>more</a></aside></article>"
            b"<iframe src=https://player.example/x></iframe></body></html>")
    page = extract_streamed(html, "https://s.example/", max_links=10)
    assert page.title == "T"
    assert page.cited == [("https://s.example/cited", "a source")]
    assert [u for u, _ in page.navigation] == ["https://s.example/home", "https://s.example/aside"]
    assert page.requisites == ["https://s.example/s.css", "https://s.example/i.png",
                               "https://s.example/i2.png", "https://s.example/favicon.ico"]
    assert page.embeds == ["https://player.example/x"] and page.found == 3
    capped = extract_streamed(html, "https://s.example/", max_links=1)
    assert len(capped.cited) + len(capped.navigation) == 1 and capped.found == 3


def test_streamed_extraction_reads_whole_texts_and_survives_empty_pages() -> None:
    """The parser target keeps the text of an open link across its child elements (the pull
    parser's cleared elements lost a child's text: "Read source"), ends elements innermost first,
    and an empty or broken document gives what was read."""
    html = (b"<html><body><article><a href=/x>Read <b>the</b> source</a>"
            b"<video src=/v.mp4><source src=/v.webm></video><style>p{background:url(/bg.png)}</style>"
            b"<area href=/map alt='A  map'></article></body></html>")
    page = extract_streamed(html, "https://s.example/", max_links=10, guess_favicon=False)
    assert page.cited == [("https://s.example/x", "Read the source"), ("https://s.example/map", "A map")]
    assert page.requisites == ["https://s.example/v.webm", "https://s.example/v.mp4", "https://s.example/bg.png"]
    for broken in (b"", b"   ", b"<a href=/y>unclosed", b"\x00\xff<<<"):
        got = extract_streamed(broken, "https://s.example/", max_links=10)
        assert got.requisites == ["https://s.example/favicon.ico"]
    assert extract_streamed(b"<a href=/y>unclosed", "https://s.example/", max_links=10).navigation == [
        ("https://s.example/y", "unclosed")]


def test_streamed_extraction_keeps_nested_text_elements_apart() -> None:
    """An empty <style> or <title> inside a link (lists of text equal at its end) ends only itself."""
    html = (b"<html><body><article><a href=/x><style></style>x</a><a href=/y><title></title>yy</a>"
            b"<a href=/z>z<style>p{}</style>z</a></article></body></html>")
    page = extract_streamed(html, "https://s.example/", max_links=10, guess_favicon=False)
    assert page.cited == [("https://s.example/x", "x"), ("https://s.example/y", "yy"),
                          ("https://s.example/z", "zp{}z")]
