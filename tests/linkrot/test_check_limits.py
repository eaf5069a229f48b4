"""Link checks stay bounded against hostile servers: decoded size limited while the body streams
(brotli/gzip/deflate bombs), one total deadline per check (a 1 byte/s drip), and in the HTTP API
they run as queued background work with bounded concurrency, behind the token once tokens exist."""

from __future__ import annotations

import functools
import gzip
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from citevault.archive import Archive
from citevault.auth import create_token
from citevault.config import Settings
from citevault.linkrot import check_url
from citevault.linkrot.decode import BoundedDecoder, read_bounded
from citevault.web import create_app
from tests.fakeweb import FakeWeb
from tests.sites.hostile import HostileWeb, _Handler, bomb
from tests.sites.hostile_behaviours import install

BIG = 100_000_000  # decoded bytes of the bombs here


@functools.cache
def _payload(encoding: str) -> bytes:
    return bomb(encoding, BIG)


def _bomb(encoding: str) -> Callable[[_Handler], None]:
    def serve(h: _Handler) -> None:
        payload = _payload(encoding)
        h.head("200 OK", [("Content-Type", "text/html"), ("Content-Encoding", encoding),
                          ("Content-Length", str(len(payload)))])
        h.send(payload)

    return serve


@pytest.fixture
def hostile(web: FakeWeb, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[HostileWeb, dict[str, str]]]:
    with HostileWeb(web).running() as hw:
        urls = install(hw)
        for enc in ("gzip", "deflate", "br"):
            urls[f"big-{enc}"] = hw.on(f"/big-{enc}", _bomb(enc))
        for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
            monkeypatch.setenv(var, hw.proxy_url)
        yield hw, urls


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
def test_a_bomb_is_cut_while_decoding(hostile: tuple[HostileWeb, dict[str, str]], encoding: str) -> None:
    _, urls = hostile
    _payload(encoding)  # made before measuring (the server serves it from memory)
    tracemalloc.start()
    try:
        res = check_url(Settings(), urls[f"big-{encoding}"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert res.outcome in ("alive", "error"), res
    # Before: the whole bomb decoded at once (>= BIG). Now: the 5 MB cap, and what reading it costs.
    assert peak < BIG // 2, f"{peak} bytes at the peak for a {BIG}-byte {encoding} bomb"


def test_decoder_bounds() -> None:
    data = bomb("br", 50_000_000)
    chunks = [data[i:i + 16384] for i in range(0, len(data), 16384)]
    assert len(read_bounded(chunks, "br", 1_000_000, time.monotonic() + 60)) == 1_000_000
    dec = BoundedDecoder("gzip", 10)
    assert dec.feed(gzip.compress(b"hello")) == b"hello" and not dec.full
    assert BoundedDecoder("deflate", 100).feed(zlib.compress(b"abc")) == b"abc"
    assert BoundedDecoder("deflate", 100).feed(zlib.compress(b"abc")[2:-4]) == b"abc"  # raw deflate
    assert BoundedDecoder(None, 3).feed(b"abcdef") == b"abc"


def test_a_drip_is_cut_at_the_total_deadline(hostile: tuple[HostileWeb, dict[str, str]],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _, urls = hostile
    monkeypatch.setenv("CITEVAULT_CHECK_DEADLINE", "3")
    started = time.monotonic()
    res = check_url(Settings(), urls["drip"])  # the read timeout (30 s) never fires: a byte a second
    took = time.monotonic() - started
    assert res.outcome == "error" and "CITEVAULT_CHECK_DEADLINE" in (res.detail or ""), res
    assert took < 25, took  # bounded by the deadline, not by the drip (100,000 s)


def test_checks_are_queued_background_work(hostile: tuple[HostileWeb, dict[str, str]],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    _, urls = hostile
    monkeypatch.setenv("CITEVAULT_CHECK_WORKERS", "1")
    monkeypatch.setenv("CITEVAULT_CHECK_QUEUE", "1")
    # The first check runs (on a silent server) until this deadline: long enough for the three
    # in-process requests that follow to find it running, not the default's minute.
    monkeypatch.setenv("CITEVAULT_CHECK_DEADLINE", "8")
    archive = Archive(Settings())
    slow = [q.source_id for q in archive.queue([urls["silent"], urls["drip"], urls["silent"] + "?3"])]
    app = create_app(archive.settings, archive)
    with TestClient(app) as client:
        first = client.post(f"/api/sources/{slow[0]}/check")
        assert first.status_code == 202 and first.json()["state"] in ("queued", "running")
        job = first.json()["job"]
        assert client.post(f"/api/sources/{slow[0]}/check").json()["job"] == job  # the same job
        deadline = time.monotonic() + 60
        while client.get(f"/api/checks/{job}").json()["state"] == "queued":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # One running, one waiting: the next is refused, and the API keeps answering meanwhile.
        assert client.post(f"/api/sources/{slow[1]}/check").status_code == 202
        busy = client.post(f"/api/sources/{slow[2]}/check")
        assert busy.status_code == 503 and busy.headers["retry-after"] == "30"
        assert "try again later" in busy.json()["error"]
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/api/checks/999999").status_code == 404
        assert client.post("/api/sources/999999/check").status_code == 404
        while (done := client.get(f"/api/checks/{job}").json())["state"] != "done":
            assert time.monotonic() < deadline + 60
            time.sleep(0.1)
        assert [c["outcome"] for c in done["checks"]] == ["error"]
        create_token(archive.index, "editor")
        assert client.post(f"/api/sources/{slow[0]}/check").status_code == 401
    archive.close()
