"""What each hostile URL does (see hostile.py), registered on a HostileWeb by `install`."""

from __future__ import annotations

from tests.sites.hostile import HostileWeb, _Handler, bomb

__all__ = ["BOMB_SIZE", "install"]

BOMB_SIZE = 50_000_000  # decoded bytes of each bomb: far past the tests' 1 MB limit


def _page(h: _Handler, body: bytes, ctype: str = "text/html; charset=utf-8", status: str = "200 OK",
          extra: list[tuple[str, str]] | None = None) -> None:
    h.head(status, [("Content-Type", ctype), ("Content-Length", str(len(body))), *(extra or [])])
    h.send(body)


def install(web: HostileWeb) -> dict[str, str]:
    """Register every behaviour; returns name -> URL."""
    urls: dict[str, str] = {}

    def on(name: str, path: str, fn: object) -> None:
        urls[name] = web.on(path, fn)  # type: ignore[arg-type]

    def drop(h: _Handler) -> None:
        h.head("200 OK", [("Content-Type", "text/html"), ("Content-Length", "100000")])
        h.send(b"<p>" + b"x" * 1000)
        h.reset()

    def short(h: _Handler) -> None:
        h.head("200 OK", [("Content-Type", "text/html"), ("Content-Length", "5000")])
        h.send(b"<p>only a little</p>")  # then a clean close, 4,980 bytes short

    def drip(h: _Handler) -> None:
        h.head("200 OK", [("Content-Type", "text/html"), ("Content-Length", "100000")])
        while not web.stopping.wait(1.0):
            h.send(b"x")

    def silent(h: _Handler) -> None:
        h.hold()

    def bombs(encoding: str) -> object:
        payload = bomb(encoding, BOMB_SIZE)

        def serve(h: _Handler) -> None:
            _page(h, payload, extra=[("Content-Encoding", encoding)])

        return serve

    def redirect(to: str) -> object:
        def serve(h: _Handler) -> None:
            h.head("302 Found", [("Location", to), ("Content-Length", "0")])

        return serve

    def bad_chunks(h: _Handler) -> None:
        h.head("200 OK", [("Content-Type", "text/html"), ("Transfer-Encoding", "chunked")])
        h.send(b"zz\r\nhello\r\n0\r\n\r\n")

    def garbage_status(h: _Handler) -> None:
        h.send(b"HTTP/1.1 abc def\r\nContent-Length: 5\r\n\r\nhello")

    def not_http(h: _Handler) -> None:
        h.send(b"\x00\x01 this is not HTTP at all\r\n\r\n")

    def huge_headers(h: _Handler) -> None:
        h.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Big: ")
        for _ in range(10):
            h.send(b"a" * 1_000_000)
        h.send(b"\r\nContent-Length: 2\r\n\r\nok")

    def huge(with_length: bool) -> object:
        def serve(h: _Handler) -> None:
            head = [("Content-Type", "application/octet-stream")]
            head += [("Content-Length", str(10**10))] if with_length else [("Connection", "close")]
            h.head("200 OK", head)
            block = b"\0" * 65536
            while not web.stopping.is_set():
                h.send(block)

        return serve

    def deep(h: _Handler) -> None:
        _page(h, b"<html><body>" + b"<div>" * 50_000 + b"deep text" + b"</div>" * 50_000
              + b"</body></html>")

    def lying(h: _Handler) -> None:
        _page(h, "<p>caf\u00e9 \u2014 na\u00efve</p>".encode("latin-1", "replace") + b"\xff\xfe\x80",
              ctype="text/html; charset=utf-8")

    def bogus_charset(h: _Handler) -> None:
        _page(h, b"<p>plain</p>", ctype="text/html; charset=x-no-such-charset")

    calls = {"429": 0, "flap": 0}

    def too_many(h: _Handler) -> None:
        calls["429"] += 1
        if calls["429"] == 1:
            _page(h, b"slow down", status="429 Too Many Requests", extra=[("Retry-After", "1")])
        else:
            _page(h, b"<p>served after the wait</p>")

    def flapping(h: _Handler) -> None:
        calls["flap"] += 1
        if calls["flap"] <= 2:
            _page(h, b"down", status="503 Service Unavailable")
        else:
            _page(h, b"<p>up again</p>")

    on("drop", "/drop", drop)
    on("short", "/short", short)
    on("drip", "/drip", drip)
    on("silent", "/silent", silent)
    for enc in ("gzip", "deflate", "br"):
        on(f"bomb-{enc}", f"/bomb-{enc}", bombs(enc))
    on("loop", "/loop-a", redirect(web.url("/loop-b")))
    web.on("/loop-b", redirect(web.url("/loop-a")))  # type: ignore[arg-type]
    for i in range(15):
        web.on(f"/chain/{i}", redirect(web.url(f"/chain/{i + 1}")))  # type: ignore[arg-type]
    urls["chain"] = web.url("/chain/0")
    on("bad-chunks", "/bad-chunks", bad_chunks)
    on("garbage-status", "/garbage-status", garbage_status)
    on("not-http", "/not-http", not_http)
    on("huge-headers", "/huge-headers", huge_headers)
    on("huge-length", "/huge-length", huge(True))
    on("huge-no-length", "/huge-no-length", huge(False))
    on("deep", "/deep", deep)
    on("lying-charset", "/lying-charset", lying)
    on("bogus-charset", "/bogus-charset", bogus_charset)
    on("429", "/too-many", too_many)
    on("flapping", "/flapping", flapping)
    return urls
