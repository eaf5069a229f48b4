"""Route bodies that write their own response, in the manner of Scrapy's tests/mockserver resources:
``fw.add(url, Status(503))``, ``Delay(0.5, b"late")``, ``Drop()``, ``BrokenChunked(b"...")``."""

from __future__ import annotations

import json
import time
from typing import Protocol

from .routes import FakeRequest

__all__ = [
    "BrokenChunked",
    "BrokenDownload",
    "Delay",
    "Drop",
    "Echo",
    "Exchange",
    "Raw",
    "Resource",
    "Status",
]

HTML = "text/html; charset=utf-8"


class Exchange(Protocol):
    """What a resource can do with the connection it answers on (the server's request handler)."""

    @property
    def fake_request(self) -> FakeRequest: ...

    def respond(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None: ...

    def respond_chunked(
        self, status: int, headers: list[tuple[str, str]], body: bytes, n: int, pause: float
    ) -> None: ...

    def send_raw(self, data: bytes) -> None: ...

    def drop(self) -> None: ...


class Resource:
    """A route body that answers by itself; subclasses override :meth:`render`."""

    def render(self, ex: Exchange) -> None:
        raise NotImplementedError


class Status(Resource):
    """Answer with ``code`` (and an optional body): ``Status(503)``, ``Status(204, b"")``."""

    def __init__(self, code: int, body: bytes = b"", content_type: str = HTML) -> None:
        self.code, self.body, self.content_type = code, body or f"<h1>{code}</h1>".encode(), content_type

    def render(self, ex: Exchange) -> None:
        ex.respond(self.code, [("Content-Type", self.content_type)], self.body)


class Delay(Resource):
    """Wait ``seconds`` before answering with ``then`` (bytes as a 200 page, or another resource)."""

    def __init__(self, seconds: float, then: Resource | bytes = b"delayed") -> None:
        self.seconds, self.then = seconds, then

    def render(self, ex: Exchange) -> None:
        time.sleep(self.seconds)  # the server side of a slow site; tests wait on their client
        if isinstance(self.then, Resource):
            self.then.render(ex)
        else:
            ex.respond(200, [("Content-Type", HTML)], self.then)


class Drop(Resource):
    """Close the connection without sending a byte."""

    def render(self, ex: Exchange) -> None:
        ex.drop()


class BrokenChunked(Resource):
    """Send a chunked response's head and its first ``sent`` chunks, then cut the connection before
    the terminating zero-length chunk."""

    def __init__(self, body: bytes, chunks: int = 4, sent: int = 1, content_type: str = HTML) -> None:
        self.body, self.chunks, self.sent, self.content_type = body, chunks, sent, content_type

    def render(self, ex: Exchange) -> None:
        size = -(-len(self.body) // max(1, self.chunks)) or 1
        pieces = [self.body[i : i + size] for i in range(0, len(self.body), size)][: self.sent]
        head = f"HTTP/1.1 200 OK\r\nContent-Type: {self.content_type}\r\nTransfer-Encoding: chunked\r\n\r\n"
        ex.send_raw(head.encode() + b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces))
        ex.drop()


class BrokenDownload(Resource):
    """Declare ``Content-Length: len(body)`` but send only the first ``sent`` bytes, then cut."""

    def __init__(self, body: bytes, sent: int, content_type: str = HTML) -> None:
        self.body, self.sent, self.content_type = body, sent, content_type

    def render(self, ex: Exchange) -> None:
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: {self.content_type}\r\n"
            f"Content-Length: {len(self.body)}\r\n\r\n"
        )
        ex.send_raw(head.encode() + self.body[: self.sent])
        ex.drop()


class Raw(Resource):
    """Send these bytes as they are (a malformed head, HTTP/1.0 without length, ...), then close."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def render(self, ex: Exchange) -> None:
        ex.send_raw(self.data)
        ex.drop()


class Echo(Resource):
    """Answer with the request as JSON: method, absolute URL, headers (lower-case names)."""

    def render(self, ex: Exchange) -> None:
        req = ex.fake_request
        body = json.dumps({"method": req.method, "url": req.url, "headers": dict(req.headers)}).encode()
        ex.respond(200, [("Content-Type", "application/json")], body)
