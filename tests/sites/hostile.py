"""A hostile web for fault-injection tests: an HTTP proxy on loopback whose answers break HTTP on
purpose (dropped and short bodies, drips, silence, bombs, bad chunking, garbage status lines, huge
headers and bodies, redirect loops). The fake web's routes cannot break the protocol, so these
answers are written to the socket by hand; everything else is passed on to a FakeWeb."""

from __future__ import annotations

import gzip
import socket
import socketserver
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import brotli

from tests.fakeweb import FakeWeb

__all__ = ["HOST", "HostileWeb", "bomb"]

HOST = "hostile.example.test"
Behaviour = Callable[["_Handler"], None]


def bomb(encoding: str, size: int) -> bytes:
    """A small body that decodes to `size` bytes of zeros."""
    if encoding == "gzip":
        return gzip.compress(b"\0" * size, compresslevel=9)
    if encoding == "deflate":
        return zlib.compress(b"\0" * size, 9)
    if encoding == "br":
        return brotli.compress(b"\0" * size, quality=5)
    raise ValueError(encoding)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, web: HostileWeb) -> None:
        self.web = web
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(socketserver.StreamRequestHandler):
    server: _Server
    rbufsize = 0  # unbuffered: what follows the head (a TLS handshake) stays in the socket

    def handle(self) -> None:
        line = self.rfile.readline(65536).decode("latin-1")
        if not line.strip():
            return
        headers: list[bytes] = []
        while (h := self.rfile.readline(65536)) not in (b"\r\n", b"\n", b""):
            headers.append(h)
        self.method, target, _ = (line.split() + ["", "", ""])[:3]
        parts = urlsplit(target)
        self.url = target
        self.path = parts.path + (f"?{parts.query}" if parts.query else "")
        web = self.server.web
        with web.lock:
            web.hits.append(target)
            behaviour = web.behaviours.get(self.path) if parts.hostname == HOST else None
        if behaviour is None:
            self._forward(line, headers)
        else:
            try:
                behaviour(self)
            except OSError:
                pass  # the client gave up first, as it should

    def _forward(self, line: str, headers: list[bytes]) -> None:
        """Anything not hostile goes to the fake web (itself a proxy, CONNECT included) as is."""
        if self.method != "CONNECT":
            # One request per connection: a kept-alive one would bypass us for the next request.
            headers = [h for h in headers if not h.lower().startswith((b"connection:", b"proxy-connection:"))]
            headers.append(b"Connection: close\r\n")
        with socket.create_connection(("127.0.0.1", self.server.web.fakeweb.port)) as up:
            up.sendall(line.encode("latin-1") + b"".join(headers) + b"\r\n")

            def pump(src: socket.socket, dst: socket.socket) -> None:
                try:
                    while chunk := src.recv(65536):
                        dst.sendall(chunk)
                except OSError:
                    pass
                for sock in (src, dst):
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

            back = threading.Thread(target=pump, args=(up, self.connection), daemon=True)
            back.start()
            pump(self.connection, up)
            back.join(30)

    # -- helpers for behaviours ------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def head(self, status: str = "200 OK", headers: list[tuple[str, str]] | None = None) -> None:
        lines = [f"HTTP/1.1 {status}"] + [f"{k}: {v}" for k, v in (headers or [])]
        if not any(k.lower() == "connection" for k, _ in headers or []):
            lines.append("Connection: close")  # each connection serves one request (see _forward)
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def reset(self) -> None:
        """Close with a TCP RST, as a crashing server or a middlebox does."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()

    def hold(self) -> None:
        """Keep the connection open, silent, until the client or the test goes away."""
        self.server.web.stopping.wait()


class HostileWeb:
    """The hostile proxy: `behaviours` maps a path on HOST to what the server does."""

    def __init__(self, fakeweb: FakeWeb) -> None:
        self.fakeweb = fakeweb
        self.behaviours: dict[str, Behaviour] = {}
        self.hits: list[str] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._server: _Server | None = None

    def url(self, path: str) -> str:
        return f"http://{HOST}{path}"

    def on(self, path: str, behaviour: Behaviour) -> str:
        with self.lock:
            self.behaviours[path] = behaviour
        return self.url(path)

    def count(self, path: str) -> int:
        with self.lock:
            return sum(1 for h in self.hits if urlsplit(h).path == path.split("?")[0])

    @property
    def proxy_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator[HostileWeb]:
        self._server = _Server(self)
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.stopping.set()
            self._server.shutdown()
            self._server.server_close()
            thread.join(5)
