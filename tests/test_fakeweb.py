"""Tests of the offline fake web (tests/fakeweb/) through real HTTP clients."""

from __future__ import annotations

import gzip
import http.client
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlencode, urlsplit

import pytest

from .fakeweb import FakeWeb, NewsSite, build_news_site


@pytest.fixture(scope="module")
def fw() -> Iterator[FakeWeb]:
    with FakeWeb() as web:
        yield web


@pytest.fixture(scope="module")
def news(fw: FakeWeb) -> NewsSite:
    return build_news_site(fw)


def _unverified() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # not create_default_context: loading CAs is slow
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _opener(fw: FakeWeb) -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({"http": fw.proxy_url}))


def _tunnel(fw: FakeWeb, host: str) -> http.client.HTTPSConnection:
    conn = http.client.HTTPSConnection("127.0.0.1", fw.port, context=_unverified(), timeout=5)
    conn.set_tunnel(host, 443)
    return conn


def _get(conn: http.client.HTTPConnection, path: str, method: str = "GET", **headers: str) -> tuple:
    conn.request(method, path, headers=headers)
    resp = conn.getresponse()
    return resp, resp.read()


def _https(fw: FakeWeb, url: str, method: str = "GET", **headers: str) -> tuple:
    parts = urlsplit(url)
    conn = _tunnel(fw, parts.netloc)
    try:
        return _get(conn, parts.path + (f"?{parts.query}" if parts.query else ""), method, **headers)
    finally:
        conn.close()


def _raw(fw: FakeWeb, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", fw.port), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_http_proxy_absolute_form(fw: FakeWeb, news: NewsSite) -> None:
    url = news.article.replace("https://", "http://")  # scheme-insensitive fallback
    with _opener(fw).open(url, timeout=5) as resp:
        body = resp.read()
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
        assert int(resp.headers["Content-Length"]) == len(body)
    assert b"<title>Senate passes sweeping clean water bill" in body
    method, logged, headers = fw.requests[-1]
    assert (method, logged) == ("GET", url)
    assert headers["Host"] == "www.dailyledger.test"


def test_https_connect_keep_alive(fw: FakeWeb, news: NewsSite) -> None:
    connects = sum(r.method == "CONNECT" for r in fw.requests)
    conn = _tunnel(fw, "www.dailyledger.test")
    try:
        resp, body = _get(conn, urlsplit(news.article).path)
        sock = conn.sock
        resp2, css = _get(conn, "/static/css/site.css")
        assert conn.sock is sock  # same TLS connection reused
    finally:
        conn.close()
    assert resp.status == 200 and b"twitter-tweet" in body
    assert resp2.status == 200 and resp2.headers["Content-Type"].startswith("text/css")
    assert b'@import url("/static/css/fonts.css")' in css
    assert sum(r.method == "CONNECT" for r in fw.requests) == connects + 1
    assert [r.url for r in fw.requests[-2:]] == [
        news.article,
        "https://www.dailyledger.test/static/css/site.css",
    ]


def test_direct_origin_form_uses_host_header(fw: FakeWeb, news: NewsSite) -> None:
    final = news.redirect_chain[-1]
    conn = http.client.HTTPConnection("127.0.0.1", fw.port, timeout=5)
    try:
        resp, body = _get(conn, urlsplit(final).path, Host=urlsplit(final).netloc, **{"X-Test": "yes"})
    finally:
        conn.close()
    assert resp.status == 200 and b"Table 7" in body
    headers = fw.requests[-1].headers
    assert headers["x-test"] == headers["X-Test"] == "yes"
    assert "X-TEST" in headers and headers.get("missing") is None


def test_gzip_bytes_on_the_wire(fw: FakeWeb, news: NewsSite) -> None:
    resp, raw = _https(fw, news.gzip_page)
    assert resp.status == 200
    assert resp.headers["Content-Encoding"] == "gzip"
    assert int(resp.headers["Content-Length"]) == len(raw)
    assert raw[:2] == b"\x1f\x8b"
    html = gzip.decompress(raw)
    assert b'srcset="/img/a-480.jpg 480w, /img/a-960.jpg 960w"' in html


def test_chunked_framing_raw_socket(fw: FakeWeb) -> None:
    body = b"0123456789" * 4
    fw.add("http://chunk.test/c", body, chunked=True, chunk_delay=0.05, content_type="text/plain")
    started = time.monotonic()
    data = _raw(fw, b"GET http://chunk.test/c HTTP/1.1\r\nHost: chunk.test\r\nConnection: close\r\n\r\n")
    assert time.monotonic() - started >= 0.15
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"\r\nTransfer-Encoding: chunked" in head and b"Content-Length" not in head
    pieces = []
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        pieces.append(rest[:size])
        assert rest[size : size + 2] == b"\r\n"
        rest = rest[size + 2 :]
    assert rest == b"\r\n"
    assert len(pieces) == 4 and b"".join(pieces) == body


def test_head_sends_headers_only(fw: FakeWeb, news: NewsSite) -> None:
    conn = _tunnel(fw, "www.dailyledger.test")
    try:
        head, head_body = _get(conn, urlsplit(news.article).path, "HEAD")
        full, body = _get(conn, urlsplit(news.article).path)
    finally:
        conn.close()
    assert head.status == 200 and head_body == b""
    assert int(head.headers["Content-Length"]) == len(body)
    slow, nothing = _https(fw, news.slow_page, "HEAD")  # headers at once, no 1 s body
    assert slow.headers["Transfer-Encoding"] == "chunked" and nothing == b""
    assert fw.hits(news.article, "HEAD") >= 1


def test_404_unknown_and_registered(fw: FakeWeb, news: NewsSite) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        _opener(fw).open("http://nowhere.test/missing", timeout=5)
    with err.value:
        assert err.value.code == 404
        assert b"Not Found" in err.value.read()
    resp, body = _https(fw, news.not_found)
    assert resp.status == 404 and b"no longer exists" in body


def test_redirect_chain_locations(fw: FakeWeb, news: NewsSite) -> None:
    short, hop, final = news.redirect_chain
    assert news.shortener == short
    resp, _ = _https(fw, short)
    assert (resp.status, resp.headers["Location"]) == (301, hop)
    resp, _ = _https(fw, hop)
    assert (resp.status, resp.headers["Location"]) == (302, final)
    resp, body = _https(fw, final)
    assert resp.status == 200 and b"<table>" in body


def test_conditional_get_304(fw: FakeWeb, news: NewsSite) -> None:
    path = urlsplit(news.article).path
    conn = _tunnel(fw, "www.dailyledger.test")
    try:
        first, body = _get(conn, path)
        etag = first.headers["ETag"]
        again, empty = _get(conn, path, **{"If-None-Match": etag})
        other, body2 = _get(conn, path, **{"If-None-Match": '"stale"'})
    finally:
        conn.close()
    assert again.status == 304 and empty == b"" and again.headers["ETag"] == etag
    assert other.status == 200 and body2 == body


def test_route_replacement_remove_and_hits(fw: FakeWeb) -> None:
    url = "http://change.test/page"
    opener = _opener(fw)
    fw.add(url, "version one")
    with opener.open(url, timeout=5) as resp:
        assert resp.read() == b"version one"
    fw.add(url, "version two", headers=[("X-Rev", "2")])
    with opener.open(url, timeout=5) as resp:
        assert resp.read() == b"version two" and resp.headers["X-Rev"] == "2"
    assert fw.remove(url) and not fw.remove(url)
    with pytest.raises(urllib.error.HTTPError) as err:
        opener.open(url, timeout=5)
    err.value.close()
    assert err.value.code == 404
    assert fw.hits(url) == 3 and fw.hits(url, "POST") == 0


def test_drop_closes_without_response(fw: FakeWeb) -> None:
    fw.add("http://drop.test/x", "never sent", drop=True)
    conn = http.client.HTTPConnection("127.0.0.1", fw.port, timeout=5)
    try:
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            _get(conn, "http://drop.test/x")
    finally:
        conn.close()
    assert fw.hits("http://drop.test/x") == 1


def test_delay_and_scheme_fallback(fw: FakeWeb) -> None:
    fw.add("http://plain.test/a", "plain", delay=0.2)
    started = time.monotonic()
    resp, body = _https(fw, "https://plain.test/a")  # http route served over https
    assert time.monotonic() - started >= 0.2
    assert resp.status == 200 and body == b"plain"
    fw.add("https://secure.test/b", "secure")
    with _opener(fw).open("http://secure.test/b", timeout=5) as r:
        assert r.read() == b"secure"


def test_oembed_exact_and_any_query(fw: FakeWeb, news: NewsSite) -> None:
    for status, endpoint in zip(news.tweet_status, news.oembed, strict=False):
        assert endpoint == "https://publish.twitter.com/oembed?" + urlencode({"url": status})
        resp, body = _https(fw, endpoint)
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("application/json")
        assert json.loads(body)["url"] == status
        reordered = "https://publish.twitter.com/oembed?" + urlencode({"omit_script": "1", "url": status})
        resp, body = _https(fw, reordered)
        assert resp.status == 200 and json.loads(body)["url"] == status
    resp, _ = _https(fw, "https://publish.twitter.com/oembed?url=https%3A%2F%2Ftwitter.com%2Fa%2Fstatus%2F1")
    assert resp.status == 404
    yt = "https://www.youtube.com/oembed?" + urlencode({"format": "json", "url": news.youtube})
    resp, body = _https(fw, yt)
    assert resp.status == 200 and json.loads(body)["provider_name"] == "YouTube"
    resp, body = _https(fw, news.tweet_links[0])  # status page: JS shell, no tweet text
    assert resp.status == 200 and b"react-root" in body and b"Senate voted" not in body


def test_news_site_urls_all_served(fw: FakeWeb, news: NewsSite) -> None:
    expected = {news.not_found: 404, news.redirect_chain[0]: 301, news.redirect_chain[1]: 302}
    urls = [u for u in news.all_urls if u != news.slow_page]
    for must in [news.article, *news.requisites, *news.navigation, *news.ads, *news.oembed, news.home]:
        assert must in news.all_urls
    for deps in news.cited_requisites.values():
        assert set(deps) <= set(news.all_urls)
    conn = http.client.HTTPConnection("127.0.0.1", fw.port, timeout=5)  # one keep-alive connection
    try:
        for url in urls:
            parts = urlsplit(url)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            resp, body = _get(conn, path, Host=parts.netloc)
            assert resp.status == expected.get(url, 200), url
            assert resp.headers["Content-Type"], url
            assert body, url
    finally:
        conn.close()


def test_news_article_content(fw: FakeWeb, news: NewsSite) -> None:
    def text(url: str) -> str:
        route = fw.lookup(url)
        assert route is not None and isinstance(route.body, bytes), url
        return route.body.decode()

    html = text(news.article)
    for snippet in [
        '<link rel="stylesheet" href="/static/css/site.css">',
        '<link rel="icon" href="/favicon.ico">',
        '<script src="/static/js/app.js"',
        "url(/static/img/bg.png)",
        '<aside class="sidebar">',
        '<div class="ad-slot"><iframe src="https://ads.adnet.test/serve?slot=top"',
        'srcset="/static/img/hero-800.jpg 800w, /static/img/hero-1600.jpg 1600w"',
        '<blockquote class="twitter-tweet"><p lang="en" dir="ltr">',
        '<script async src="https://platform.twitter.com/widgets.js" charset="utf-8"></script>',
        'href="https://twitter.com/dailyledger"',
    ]:
        assert snippet in html, snippet
    assert html.count('<li><a href="/') >= 8 + 3
    for url in [*news.cited, *news.tweet_links]:
        assert f'href="{url}"' in html, url
    assert news.tweet_links[1].startswith("https://x.com/")
    assert '@import url("/static/css/fonts.css")' in text(news.requisites[0])
    assert "url('/static/img/bg.png')" in text(news.requisites[0])
    assert 'url(/static/fonts/serif.woff2) format("woff2")' in text(news.requisites[1])
    gov_css = text(news.cited_requisites[news.gov_page][0])
    assert '@import url("/css/print.css")' in gov_css
    assert "url(/fonts/gov.woff2)" in gov_css and 'url("../img/seal.svg")' in gov_css
    jpeg = fw.lookup(news.requisites[6])
    assert jpeg is not None and isinstance(jpeg.body, bytes) and jpeg.body.startswith(b"\xff\xd8\xff")
    assert jpeg.content_type == "image/jpeg"


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_curl_through_proxy(fw: FakeWeb, news: NewsSite) -> None:
    out = subprocess.run(
        ["curl", "-sS", "--cacert", str(fw.ca_file), "-x", fw.proxy_url, "-o", "/dev/null", "-w",
         "%{http_code} %{num_connects}\n", news.article, "-o", "/dev/null", news.requisites[0]],
        capture_output=True, text=True, timeout=10, check=True,
    )  # fmt: skip
    assert out.stdout.split("\n")[:2] == ["200 1", "200 0"]  # verified TLS via the fake CA, keep-alive


def test_lifecycle_is_fast_and_leaves_no_threads() -> None:
    before = set(threading.enumerate())
    # Starting is work (a CA, keys, a certificate): its CPU time, which busy cores do not
    # stretch (the wall time did: 0.36 s of it for 0.04 s of CPU at load 12, against 0.5).
    cpu = time.process_time()
    web = FakeWeb().start()
    assert time.process_time() - cpu < 0.5
    assert web.proxy_url == f"http://127.0.0.1:{web.port}"
    web.add("http://idle.test/", "hi")
    conn = _tunnel(web, "idle.test")  # leave an idle keep-alive TLS connection open
    _get(conn, "/")
    plain = http.client.HTTPConnection("127.0.0.1", web.port, timeout=5)
    _get(plain, "http://idle.test/")
    ca_dir = web.ca_file.parent if web.ca_file else None
    started = time.monotonic()
    web.close()
    web.close()
    # Closing waits, for the server loop (0.05 s polls) and its thread: measured 0.05-0.09 s at
    # load 12. What this guards against is a wait for the idle connections: the server
    # thread's join timeout (2 s) or their read timeout (30 s).
    assert time.monotonic() - started < 1.5
    conn.close()
    plain.close()
    assert ca_dir is not None and not ca_dir.exists()
    with pytest.raises(RuntimeError):
        _ = web.port
    deadline = time.monotonic() + 30  # a bound on a condition: both cores may be busy
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not set(threading.enumerate()) - before
