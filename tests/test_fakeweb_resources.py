"""The fake web's route-body resources (Status, Delay, Drop, BrokenChunked, ...) over real sockets."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator

import pytest

from .fakeweb import BrokenChunked, BrokenDownload, Delay, Drop, Echo, FakeWeb, Raw, Status
from .test_fakeweb import _raw


@pytest.fixture(scope="module")
def fw() -> Iterator[FakeWeb]:
    with FakeWeb() as web:
        yield web


def _raw_get(fw: FakeWeb, url: str) -> bytes:
    """Everything the server sends for one proxied GET, until it closes the connection."""
    return _raw(fw, f"GET {url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())


def _get(fw: FakeWeb, url: str, **headers: str) -> tuple[http.client.HTTPResponse, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", fw.port, timeout=5)
    try:
        conn.request("GET", url, headers=headers)
        resp = conn.getresponse()
        return resp, resp.read()
    finally:
        conn.close()


def test_status_answers_with_its_code(fw: FakeWeb) -> None:
    fw.add("http://res.test/503", Status(503, b"busy"))
    fw.add("http://res.test/410", Status(410))
    resp, body = _get(fw, "http://res.test/503")
    assert (resp.status, body) == (503, b"busy")
    resp, body = _get(fw, "http://res.test/410")
    assert resp.status == 410 and b"410" in body


def test_delay_then_answers(fw: FakeWeb) -> None:
    fw.add("http://res.test/slow", Delay(0.2, Status(201, b"made")))
    started = time.monotonic()
    resp, body = _get(fw, "http://res.test/slow")
    assert time.monotonic() - started >= 0.2  # a lower bound only: never flaky under load
    assert (resp.status, body) == (201, b"made")


def test_drop_sends_nothing(fw: FakeWeb) -> None:
    fw.add("http://res.test/drop", Drop())
    assert _raw_get(fw, "http://res.test/drop") == b""
    assert fw.hits("http://res.test/drop") == 1


def test_broken_chunked_stops_before_the_last_chunk(fw: FakeWeb) -> None:
    fw.add("http://res.test/chunks", BrokenChunked(b"abcdefgh", chunks=4, sent=2))
    data = _raw_get(fw, "http://res.test/chunks")
    head, _, rest = data.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head
    assert rest == b"2\r\nab\r\n2\r\ncd\r\n"  # no terminating 0-size chunk
    with pytest.raises(http.client.IncompleteRead):
        _get(fw, "http://res.test/chunks")


def test_broken_download_is_shorter_than_declared(fw: FakeWeb) -> None:
    fw.add("http://res.test/short", BrokenDownload(b"0123456789", sent=4))
    head, _, rest = _raw_get(fw, "http://res.test/short").partition(b"\r\n\r\n")
    assert b"Content-Length: 10" in head and rest == b"0123"
    with pytest.raises(http.client.IncompleteRead):
        _get(fw, "http://res.test/short")


def test_raw_bytes_go_out_unchanged(fw: FakeWeb) -> None:
    fw.add("http://res.test/raw", Raw(b"HTTP/1.0 200 OK\r\nX-Odd:  spaced \r\n\r\nuntil close"))
    assert _raw_get(fw, "http://res.test/raw") == b"HTTP/1.0 200 OK\r\nX-Odd:  spaced \r\n\r\nuntil close"


def test_echo_returns_the_request(fw: FakeWeb) -> None:
    fw.add("http://res.test/echo", Echo(), match_any_query=True)
    resp, body = _get(fw, "http://res.test/echo?a=1", **{"X-Probe": "yes"})
    doc = json.loads(body)
    assert resp.status == 200
    assert doc["method"] == "GET" and doc["url"] == "http://res.test/echo?a=1"
    assert doc["headers"]["x-probe"] == "yes"
