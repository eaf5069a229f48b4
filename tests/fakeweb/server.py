"""The fake web's threaded HTTP server: origin and forward proxy (absolute-form requests, CONNECT
tunnels with TLS), serving the routes of its FakeWeb and logging every request."""

from __future__ import annotations

import email.utils
import gzip as _gzip
import http.server
import socket
import socketserver
import ssl
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from .resources import Resource
from .routes import FakeRequest, Headers, Route, normalize_url

if TYPE_CHECKING:
    from .web import FakeWeb

__all__ = ["Server"]

NOT_FOUND = (
    b"<!DOCTYPE html><html><head><title>404 Not Found</title></head>"
    b"<body><h1>Not Found</h1><p>The requested URL was not found on this server.</p></body></html>"
)
HTML = "text/html; charset=utf-8"



class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, fakeweb: FakeWeb) -> None:
        self.fakeweb = fakeweb
        self.conns: set[socket.socket] = set()
        self.conns_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn), which can be slow offline.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError | ValueError):  # client went away, TLS errors, socket shut on close()
            return
        super().handle_error(request, client_address)

    def track(self, sock: socket.socket, add: bool) -> None:
        with self.conns_lock:
            (self.conns.add if add else self.conns.discard)(sock)

    def kill_connections(self) -> None:
        with self.conns_lock:
            conns = list(self.conns)
        for sock in conns:
            try:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakeweb/1.0"
    sys_version = ""
    timeout = 30
    server: Server

    tunnel: str | None = None  # netloc of the CONNECT target once TLS is up
    fake_request: FakeRequest  # the request being answered, set before its route runs
    _headers_buffer: list[bytes]

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        self.server.track(self.connection, False)
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.close()
            except OSError:
                pass

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- proxying

    def do_CONNECT(self) -> None:
        fw = self.server.fakeweb
        host, _, port_s = self.path.rpartition(":")
        if not host or not port_s.isdigit():
            self.send_error(400, "CONNECT needs host:port")
            return
        fw.log_request(FakeRequest("CONNECT", self.path, self._headers()))
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        raw = self.connection
        try:
            tls = fw.tls.context.wrap_socket(raw, server_side=True)
        except (OSError, ValueError):
            self.close_connection = True
            return
        self.server.track(raw, False)
        self.server.track(tls, True)
        for f in (self.rfile, self.wfile):
            try:
                f.close()
            except OSError:
                pass
        self.connection = self.request = tls
        self.rfile = tls.makefile("rb", self.rbufsize)  # type: ignore[assignment]
        self.wfile = socketserver._SocketWriter(tls)  # type: ignore[attr-defined]
        port = int(port_s)
        host = host.strip("[]").lower()
        self.tunnel = host if port == 443 else f"{host}:{port}"
        self.close_connection = False

    # -- serving

    def _headers(self) -> Headers:
        return Headers((k.lower(), v) for k, v in self.headers.items())

    def _request_url(self) -> str:
        path = self.path
        if path.lower().startswith(("http://", "https://")):
            return normalize_url(path)
        if self.tunnel is not None:
            return normalize_url(f"https://{self.tunnel}{path}")
        host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_port}"
        return normalize_url(f"http://{host}{path}")

    def _serve(self) -> None:
        fw = self.server.fakeweb
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        url = self._request_url()
        self.fake_request = req = FakeRequest(self.command, url, self._headers())
        fw.log_request(req)
        route = fw.lookup(url)
        if route is None:
            self.respond(404, [("Content-Type", HTML)], NOT_FOUND)
            return
        if route.delay:
            time.sleep(route.delay)  # the server side of a slow site; clients wait on conditions
        if route.drop:
            self.drop()
            return
        body_src = route.body
        if isinstance(body_src, Resource):
            body_src.render(self)
            return
        if callable(body_src):
            produced = body_src(req)
            if produced is None:
                self.respond(404, [("Content-Type", HTML)], NOT_FOUND)
                return
            body = produced.encode() if isinstance(produced, str) else produced
        else:
            body = body_src
        self._answer(route, req, body)

    def _answer(self, route: Route, req: FakeRequest, body: bytes) -> None:
        status = route.status
        if route.redirect and status == 200:
            status = 302
        skip = {"content-length", "transfer-encoding", "content-encoding"}
        headers = [(k, v) for k, v in route.headers if k.lower() not in skip]
        if route.content_type and route.header("Content-Type") is None:
            headers.insert(0, ("Content-Type", route.content_type))
        if route.redirect and route.header("Location") is None:
            headers.append(("Location", route.redirect))
            if not body:
                body = f'<html><body><a href="{route.redirect}">Moved</a></body></html>'.encode()
        if status == 200 and self.command in ("GET", "HEAD") and _not_modified(route, req.headers):
            keep = {"etag", "last-modified", "cache-control", "expires", "vary", "date"}
            self.respond(304, [(k, v) for k, v in headers if k.lower() in keep], b"")
            return
        if route.gzip:
            body = _gzip.compress(body, mtime=0)
            headers.append(("Content-Encoding", "gzip"))
        if route.chunked:
            self.respond_chunked(status, headers, body, route.chunks, route.chunk_delay)
        else:
            self.respond(status, headers, body)

    # -- the Exchange a Resource answers through

    def drop(self) -> None:
        """Cut the connection (no response, or whatever was sent so far)."""
        self.close_connection = True
        try:
            self.wfile.flush()
            socket.socket.shutdown(self.connection, socket.SHUT_RDWR)
        except OSError:
            pass

    def send_raw(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def respond(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if status not in (204, 304) and not 100 <= status < 200:
            self.send_header("Content-Length", str(len(body)))
        # Head and body in one write: two small writes + Nagle + delayed ACK cost 40 ms per response.
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD" and status not in (204, 304):
            self._headers_buffer.append(body)
        self.flush_headers()

    def respond_chunked(
        self, status: int, headers: list[tuple[str, str]], body: bytes, n: int, pause: float
    ) -> None:
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if self.command == "HEAD":
            return
        n = max(1, min(n, len(body) or 1))
        size = -(-len(body) // n) if body else 0
        pieces = [body[i : i + size] for i in range(0, len(body), size)] if size else []
        self.wfile.flush()
        for i, piece in enumerate(pieces):
            if i and pause:
                time.sleep(pause)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _serve


def _not_modified(route: Route, headers: Headers) -> bool:
    etag = route.header("ETag")
    inm = headers.get("if-none-match")
    if etag and inm:
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return "*" in tags or etag.removeprefix("W/") in tags
    last_mod = route.header("Last-Modified")
    ims = headers.get("if-modified-since")
    if last_mod and ims and not inm:
        try:
            return email.utils.parsedate_to_datetime(last_mod) <= email.utils.parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
    return False
