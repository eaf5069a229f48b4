"""Offline fake web for tests: a threaded HTTP origin + forward proxy (CONNECT/TLS) serving canned sites."""

from __future__ import annotations

import datetime as _dt
import email.utils
import gzip as _gzip
import http.server
import ipaddress
import itertools
import json
import shutil
import socket
import socketserver
import ssl
import struct
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit

__all__ = [
    "FakeRequest",
    "FakeWeb",
    "NewsSite",
    "Route",
    "build_news_site",
    "normalize_url",
]

Body = bytes | str
BodyFactory = Callable[["FakeRequest"], "Body | None"]
HeaderSpec = Mapping[str, str] | Iterable[tuple[str, str]] | None


class Headers(dict[str, str]):
    """Request headers with lower-case keys and case-insensitive lookup."""

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key.lower() if isinstance(key, str) else key)

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)


class FakeRequest(NamedTuple):
    """One logged request: method, absolute URL (or ``host:port`` for CONNECT), headers."""

    method: str
    url: str
    headers: Headers


@dataclass
class Route:
    """A canned response for one URL."""

    url: str
    body: bytes | BodyFactory = b""
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str | None = "text/html; charset=utf-8"
    gzip: bool = False
    chunked: bool = False
    chunks: int = 4
    delay: float = 0.0
    chunk_delay: float = 0.0
    redirect: str | None = None
    drop: bool = False
    match_any_query: bool = False

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


def _split(url: str) -> tuple[str, str, str, str]:
    """(scheme, netloc, path, query) with lower-case scheme/host, no default port, path at least '/'."""
    parts = urlsplit(url)
    scheme = (parts.scheme or "http").lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    return scheme, netloc, parts.path or "/", parts.query


def normalize_url(url: str) -> str:
    """The key FakeWeb uses for ``url``: lower-case scheme and host, no default port or fragment."""
    scheme, netloc, path, query = _split(url)
    return f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")


def _canonical_query(query: str) -> str:
    return urlencode(sorted(parse_qsl(query, keep_blank_values=True)))


_OTHER_SCHEME = {"http": "https", "https": "http"}
_NOT_FOUND = (
    "<!DOCTYPE html><html><head><title>404 Not Found</title></head>"
    "<body><h1>Not Found</h1><p>The requested URL was not found on this server.</p></body></html>"
)


# --------------------------------------------------------------------------- TLS


class _TLS:
    """A throw-away CA (files in a temp dir) issuing leaf certs per SNI host name; fallback leaf is
    CN=fakeweb with SAN DNS:*, localhost, 127.0.0.1. Clients may verify against ``ca_file``."""

    def __init__(self, directory: Path) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        self._dir = directory
        self._lock = threading.Lock()
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._serial = itertools.count()
        self._ca_key = ec.generate_private_key(ec.SECP256R1())
        self._leaf_key = ec.generate_private_key(ec.SECP256R1())
        self.ca_cert = self._issue("fakeweb CA", None, ca=True)
        self.ca_file = directory / "fakeweb-ca.pem"
        self.ca_file.write_bytes(self.ca_cert.public_bytes(serialization.Encoding.PEM))
        self._key_file = directory / "fakeweb-key.pem"
        self._key_file.write_bytes(
            self._leaf_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self.context = self._context_for(None)
        self.context.sni_callback = self._on_sni

    def _issue(self, cn: str, host: str | None, ca: bool = False) -> Any:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        key = self._ca_key if ca else self._leaf_key
        now = _dt.datetime.now(_dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fakeweb CA")]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _dt.timedelta(days=1))
            .not_valid_after(now + _dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._ca_key.public_key()), critical=False
            )
        )
        if ca:
            usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
            builder = builder.add_extension(usage, critical=True)
        else:
            names: list[x509.GeneralName]
            if host is None:
                names = [
                    x509.DNSName("*"),
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            else:
                names = [x509.DNSName(host)]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
            usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
            builder = builder.add_extension(usage, critical=True).add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
        return builder.sign(self._ca_key, hashes.SHA256())

    def _context_for(self, host: str | None) -> ssl.SSLContext:
        from cryptography.hazmat.primitives import serialization

        cert = self._issue(host or "fakeweb", host)
        cert_file = self._dir / f"leaf-{next(self._serial)}.pem"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert_file, self._key_file)
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    def _on_sni(
        self, sock: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _: ssl.SSLContext
    ) -> None:
        if not server_name:
            return
        try:
            ipaddress.ip_address(server_name)
            return
        except ValueError:
            pass
        host = server_name.lower()
        with self._lock:
            ctx = self._contexts.get(host)
            if ctx is None:
                try:
                    ctx = self._contexts[host] = self._context_for(host)
                except ValueError:  # not a name cryptography accepts: keep the fallback cert
                    return
        sock.context = ctx


# --------------------------------------------------------------------------- server


class _Server(http.server.ThreadingHTTPServer):
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
    server: _Server

    tunnel: str | None = None  # netloc of the CONNECT target once TLS is up
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
        fw._log(FakeRequest("CONNECT", self.path, self._headers()))
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        raw = self.connection
        try:
            tls = fw._tls.context.wrap_socket(raw, server_side=True)
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
        req = FakeRequest(self.command, url, self._headers())
        fw._log(req)
        route = fw.lookup(url)
        if route is None:
            self._respond(404, [("Content-Type", "text/html; charset=utf-8")], _NOT_FOUND.encode())
            return
        if route.delay:
            time.sleep(route.delay)
        if route.drop:
            self.close_connection = True
            try:
                socket.socket.shutdown(self.connection, socket.SHUT_RDWR)
            except OSError:
                pass
            return
        body_src = route.body
        if callable(body_src):
            produced = body_src(req)
            if produced is None:
                self._respond(404, [("Content-Type", "text/html; charset=utf-8")], _NOT_FOUND.encode())
                return
            body = produced.encode() if isinstance(produced, str) else produced
        else:
            body = body_src
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
            self._respond(304, [(k, v) for k, v in headers if k.lower() in keep], b"")
            return
        if route.gzip:
            body = _gzip.compress(body, mtime=0)
            headers.append(("Content-Encoding", "gzip"))
        if route.chunked:
            self._respond_chunked(status, headers, body, route.chunks, route.chunk_delay)
        else:
            self._respond(status, headers, body)

    def _respond(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
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

    def _respond_chunked(
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


# --------------------------------------------------------------------------- public API


class FakeWeb:
    """Routes + request log + a background HTTP server/proxy. Use as ``with FakeWeb() as fw:``."""

    def __init__(self) -> None:
        self._routes: dict[str, Route] = {}
        self._any_query: dict[str, Route] = {}
        self._lock = threading.Lock()
        self.requests: list[FakeRequest] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._tmpdir: Path | None = None
        self._tls: _TLS
        self.ca_file: Path | None = None

    # -- lifecycle

    def start(self) -> FakeWeb:
        """Start serving in a daemon thread (idempotent); returns self."""
        if self._server is not None:
            return self
        self._tmpdir = Path(tempfile.mkdtemp(prefix="fakeweb-"))
        self._tls = _TLS(self._tmpdir)
        self.ca_file = self._tls.ca_file
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fakeweb", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop the server, cut open connections, remove the temp cert dir (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.kill_connections()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
            self.ca_file = None

    def __enter__(self) -> FakeWeb:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeWeb is not running")
        return int(self._server.server_port)

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def proxies(self) -> dict[str, str]:
        """For urllib ProxyHandler / requests-like clients."""
        return {"http": self.proxy_url, "https": self.proxy_url}

    def proxy_env(self) -> dict[str, str]:
        """Environment variables that send a subprocess's HTTP(S) traffic through the fake web."""
        p = self.proxy_url
        return {
            "http_proxy": p,
            "https_proxy": p,
            "HTTP_PROXY": p,
            "HTTPS_PROXY": p,
            "no_proxy": "",
            "NO_PROXY": "",
        }

    # -- routes

    def add(
        self,
        url: str,
        body: Body | BodyFactory = b"",
        status: int = 200,
        headers: HeaderSpec = None,
        content_type: str | None = "text/html; charset=utf-8",
        gzip: bool = False,
        chunked: bool = False,
        delay: float = 0.0,
        chunk_delay: float = 0.0,
        redirect: str | None = None,
        drop: bool = False,
        match_any_query: bool = False,
        chunks: int = 4,
    ) -> Route:
        """Register (or replace) the response for ``url``; thread-safe while serving.

        ``body`` may be a callable ``(FakeRequest) -> bytes | str | None`` (None gives 404).
        ``redirect`` sets Location (status 200 becomes 302). ``match_any_query`` serves the
        route for its path whatever the query (exact routes win).
        """
        if isinstance(headers, Mapping):
            hdrs = list(headers.items())
        else:
            hdrs = list(headers or [])
        route = Route(
            url=url,
            body=body.encode() if isinstance(body, str) else body,
            status=status,
            headers=hdrs,
            content_type=content_type,
            gzip=gzip,
            chunked=chunked,
            chunks=chunks,
            delay=delay,
            chunk_delay=chunk_delay,
            redirect=redirect,
            drop=drop,
            match_any_query=match_any_query,
        )
        key = normalize_url(url)
        with self._lock:
            if match_any_query:
                self._any_query[key.split("?", 1)[0]] = route
            else:
                self._routes[key] = route
        return route

    def remove(self, url: str) -> bool:
        """Unregister ``url`` (exact and any-query routes); True if something was removed."""
        key = normalize_url(url)
        with self._lock:
            a = self._routes.pop(key, None)
            b = self._any_query.pop(key.split("?", 1)[0], None) if "?" not in key else None
        return a is not None or b is not None

    def lookup(self, url: str) -> Route | None:
        """The route serving ``url``: exact, other scheme, same params reordered, then any-query."""
        scheme, netloc, path, query = _split(url)
        schemes = (scheme, _OTHER_SCHEME.get(scheme, scheme))
        q = f"?{query}" if query else ""
        with self._lock:
            for s in schemes:
                if (r := self._routes.get(f"{s}://{netloc}{path}{q}")) is not None:
                    return r
            if query:
                canon = _canonical_query(query)
                for key, r in self._routes.items():
                    ks, _, rest = key.partition("://")
                    base, _, kq = rest.partition("?")
                    if ks in schemes and base == netloc + path and kq and _canonical_query(kq) == canon:
                        return r
            for s in schemes:
                if (r := self._any_query.get(f"{s}://{netloc}{path}")) is not None:
                    return r
        return None

    @property
    def urls(self) -> list[str]:
        """Every registered URL (as given to add)."""
        with self._lock:
            return [r.url for r in (*self._routes.values(), *self._any_query.values())]

    # -- request log

    def _log(self, req: FakeRequest) -> None:
        with self._lock:
            self.requests.append(req)

    def hits(self, url: str, method: str | None = None) -> int:
        """How many requests (optionally of ``method``) were made for ``url`` (normalized, exact query)."""
        key = normalize_url(url)
        with self._lock:
            return sum(
                1
                for r in self.requests
                if r.method != "CONNECT" and r.url == key and (method is None or r.method == method)
            )

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()


# --------------------------------------------------------------------------- tiny real assets


def _png(rgba: tuple[int, int, int, int] = (200, 200, 200, 255)) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    idat = zlib.compress(b"\x00" + bytes(rgba))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _jpeg() -> bytes:
    """A valid 1x1 grey baseline JPEG (single 8x8 block, DC 0, EOB)."""
    huff = bytes([1] + [0] * 15) + b"\x00"  # one code of length 1 for symbol 0
    return b"".join(
        [
            b"\xff\xd8",
            b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00",
            b"\xff\xdb\x00\x43\x00" + b"\x01" * 64,
            b"\xff\xc0\x00\x0b\x08\x00\x01\x00\x01\x01\x01\x11\x00",
            b"\xff\xc4\x00\x14\x00" + huff,
            b"\xff\xc4\x00\x14\x10" + huff,
            b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00",
            b"\x3f",
            b"\xff\xd9",
        ]
    )


def _ico(png: bytes) -> bytes:
    return struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", 1, 1, 0, 0, 1, 32, len(png), 22) + png


PNG = _png()
JPEG = _jpeg()
ICO = _ico(PNG)
WOFF2 = b"wOF2\x00\x01\x00\x00" + b"\x00" * 40  # right magic, not a usable font
SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">'
    b'<circle cx="32" cy="32" r="30" fill="#1f3b73"/></svg>\n'
)

CT_CSS = "text/css; charset=utf-8"
CT_JS = "application/javascript; charset=utf-8"
CT_JSON = "application/json; charset=utf-8"


# --------------------------------------------------------------------------- the news site fixture


@dataclass
class NewsSite:
    """Absolute URLs of the fake news site registered by build_news_site."""

    article: str
    title: str
    home: str
    cited: list[str]  # hrefs in the article body, in order (incl. 404, shortener, YouTube)
    requisites: list[str]  # what the article needs to render (CSS, fonts, images, JS, favicon, widgets.js)
    navigation: list[str]  # nav sections, sidebar trending articles, footer links
    ads: list[str]  # ad iframe src URLs
    tweet_links: list[str]  # hrefs in the embedded tweets (with ?ref_src=...)
    tweet_status: list[str]  # the same without the query
    oembed: list[str]  # exact oEmbed URLs (tweets then YouTube)
    youtube: str
    not_found: str
    shortener: str
    redirect_chain: list[str]  # shortener -> bit.example.test -> final 200 page
    gzip_page: str
    slow_page: str
    gov_page: str
    cited_requisites: dict[str, list[str]]  # per cited page, its own requisites
    all_urls: list[str]  # every URL registered (not the any-query oEmbed catch-alls)


def _page(title: str, body: str, css: str | None = "/static/css/site.css", head: str = "") -> str:
    link = f'<link rel="stylesheet" href="{css}">\n' if css else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
{link}{head}</head>
<body>
{body}
</body>
</html>
"""


def build_news_site(fw: FakeWeb) -> NewsSite:
    """Register the Daily Ledger article, everything it cites, embeds and links to; return its URLs."""
    site = "https://www.dailyledger.test"
    article = f"{site}/2026/11/03/senate-passes-water-bill/"
    title = "Senate passes sweeping clean water bill after marathon session"
    registered: list[str] = []

    def add(url: str, body: Body | BodyFactory = b"", **kw: Any) -> None:
        fw.add(url, body, **kw)
        registered.append(url)

    sections = ["politics", "business", "world", "technology", "science", "climate", "opinion", "sports"]
    trending = [
        ("/2026/11/02/budget-talks-stall-again/", "Budget talks stall again as deadline nears"),
        ("/2026/11/01/drought-map-expands-west/", "Drought map expands across the West"),
        (
            "/2026/10/31/city-council-approves-transit-plan/",
            "City council approves long-delayed transit plan",
        ),
    ]
    footer = ["/about/", "/contact/", "/privacy/"]
    twitter_profile = "https://twitter.com/dailyledger"

    epa = "https://www.epa.test/newsroom/statement-water-act"
    wire = "https://news.wire.test/story/12345"
    slow = "https://slow.example-report.test/report.html"
    gone = "https://gone.example.test/deleted-page"
    short = "https://sho.rt/abc123"
    bit = "https://bit.example.test/x"
    stats = "https://www.statistics.test/data/table-7.html"
    youtube = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    tweets = [
        (
            "https://twitter.com/sen_x/status/1850000000000000001",
            "Sen. Maria Alvarez",
            "sen_x",
            "Today the Senate voted to guarantee clean, safe drinking water for every community. "
            "Proud to have fought for this bill.",
            "November 2, 2026",
        ),
        (
            "https://x.com/ledger_kim/status/1850000000000000002",
            "Kim Osei",
            "ledger_kim",
            "Final tally on the Clean Water Infrastructure Act: 61-38. Eleven Republicans crossed over. "
            "Full story from @dailyledger soon.",
            "November 3, 2026",
        ),
    ]
    tweet_links = [f"{u}?ref_src=twsrc%5Etfw" for u, *_ in tweets]
    widgets = "https://platform.twitter.com/widgets.js"
    ads = ["https://ads.adnet.test/serve?slot=top", "https://ads.adnet.test/serve?slot=sidebar"]

    nav_html = "\n".join(f'      <li><a href="/{s}/">{s.title()}</a></li>' for s in sections)
    trending_html = "\n".join(f'      <li><a href="{p}">{t}</a></li>' for p, t in trending)
    tweet_html = []
    for (_status, name, handle, text, date), link in zip(tweets, tweet_links, strict=True):
        tweet_html.append(
            f'<blockquote class="twitter-tweet"><p lang="en" dir="ltr">{text}</p>&mdash; {name} '
            f'(@{handle}) <a href="{link}">{date}</a></blockquote>'
        )
    json_ld = json.dumps(
        {
            "@context": "https://schema.org",
            "@type": "NewsArticle",
            "headline": title,
            "datePublished": "2026-11-03T06:12:00-05:00",
            "dateModified": "2026-11-03T09:40:00-05:00",
            "author": [{"@type": "Person", "name": "Jordan Pike"}],
            "publisher": {"@type": "Organization", "name": "The Daily Ledger"},
            "image": [f"{site}/static/img/hero-1600.jpg"],
        }
    )
    head = f"""<meta name="description" content="The Clean Water Infrastructure Act would replace lead pipes \
nationwide within ten years.">
<meta name="author" content="Jordan Pike">
<meta property="og:type" content="article">
<meta property="og:title" content="{title}">
<meta property="og:url" content="{article}">
<meta property="og:image" content="{site}/static/img/hero-1600.jpg">
<meta name="twitter:card" content="summary_large_image">
<meta name="twitter:site" content="@dailyledger">
<link rel="canonical" href="{article}">
<link rel="icon" href="/favicon.ico">
<script src="/static/js/app.js" defer></script>
<script type="application/ld+json">{json_ld}</script>
<style>
  .masthead {{ background: #fff url(/static/img/bg.png) repeat-x top left; }}
  .ad-slot {{ min-height: 90px; text-align: center; }}
</style>
"""
    body = f"""<header class="masthead">
  <a class="logo" href="/">The Daily Ledger</a>
  <nav class="primary-nav" aria-label="Sections">
    <ul>
{nav_html}
    </ul>
  </nav>
  <div class="ad-slot"><iframe src="{ads[0]}" width="728" height="90" frameborder="0" \
scrolling="no"></iframe></div>
</header>
<main id="main">
  <article class="story">
    <header class="story-header">
      <p class="kicker"><a href="/politics/">Politics</a></p>
      <h1>{title}</h1>
      <p class="byline">By <a href="/authors/jordan-pike/" rel="author">Jordan Pike</a> &middot;
        <time datetime="2026-11-03T06:12:00-05:00">November 3, 2026</time></p>
    </header>
    <figure class="hero">
      <img src="/static/img/hero.jpg" srcset="/static/img/hero-800.jpg 800w, /static/img/hero-1600.jpg 1600w"
           sizes="(max-width: 800px) 100vw, 800px" alt="The Capitol dome at dusk" width="800" height="450">
      <figcaption>The Senate chamber stayed open past midnight. (Photo: Ledger staff)</figcaption>
    </figure>
    <div class="article-body" itemprop="articleBody">
      <p>WASHINGTON &mdash; The Senate on Monday night passed the Clean Water Infrastructure Act by a vote of
        61 to 38, sending the most ambitious overhaul of the nation's drinking-water systems in a
        generation to the House after a fourteen-hour session.</p>
      <p>In a <a href="{epa}">statement released shortly after the vote</a>, the Environmental Protection
        Agency said the bill would fund the replacement of every remaining lead service line within ten years
        and set enforceable limits on so-called forever chemicals.</p>
      <p>The measure drew support from eleven Republicans, according to
        <a href="{wire}">a tally first reported by Wire News Service</a>, many of whom represent rural
        districts where aging treatment plants have repeatedly failed inspections.</p>
      <p>An <a href="{slow}">independent report by the Water Systems Research Council</a> estimated the
        program would cost $212 billion over the decade, far less than the projected health costs of inaction
        across the hardest-hit counties.</p>
      <p>Critics pointed to <a href="{gone}">an earlier analysis published by an industry trade
        group</a>, which argued that utilities could not hire enough licensed plumbers to meet the
        deadline.</p>
      <p>Federal figures show that roughly 9.2 million homes still receive water through lead pipes,
        <a href="{short}">according to the latest national survey tables</a> from the statistics bureau.</p>
      {tweet_html[0]}
      <p>Senator Alvarez, who has pushed versions of the bill since 2019, called the vote &ldquo;a promise
        kept to every parent who has ever worried about a glass of tap water.&rdquo;</p>
      {tweet_html[1]}
      <script async src="{widgets}" charset="utf-8"></script>
      <p>During the debate, several senators played
        <a href="{youtube}">a widely shared video from a town hall in Flint</a> in which residents described
        years of boil-water notices.</p>
      <p>The House is expected to take up the bill before the Thanksgiving recess.</p>
    </div>
  </article>
  <aside class="sidebar">
    <h2>Trending</h2>
    <ol class="trending">
{trending_html}
    </ol>
    <div class="ad-slot"><iframe src="{ads[1]}" width="300" height="250" frameborder="0" \
scrolling="no"></iframe></div>
  </aside>
</main>
<footer class="site-footer">
  <ul>
    <li><a href="/about/">About us</a></li>
    <li><a href="/contact/">Contact</a></li>
    <li><a href="/privacy/">Privacy policy</a></li>
    <li><a href="{twitter_profile}">Follow us on Twitter</a></li>
  </ul>
  <p>&copy; 2026 The Daily Ledger Company</p>
</footer>"""
    add(article, _page(f"{title} | The Daily Ledger", body, head=head), headers={"ETag": '"dl-article-v1"'})

    # -- article requisites
    requisites = [
        f"{site}/static/css/site.css",
        f"{site}/static/css/fonts.css",
        f"{site}/static/fonts/serif.woff2",
        f"{site}/static/img/bg.png",
        f"{site}/static/js/app.js",
        f"{site}/favicon.ico",
        f"{site}/static/img/hero.jpg",
        f"{site}/static/img/hero-800.jpg",
        f"{site}/static/img/hero-1600.jpg",
        widgets,
    ]
    add(
        requisites[0],
        '@import url("/static/css/fonts.css");\n'
        "body{background:url('/static/img/bg.png');margin:0;font-family:'Ledger Serif',Georgia,serif}\n"
        ".masthead{border-bottom:1px solid #ddd}\n.sidebar{float:right;width:300px}\n",
        content_type=CT_CSS,
    )
    add(
        requisites[1],
        "@font-face{font-family:'Ledger Serif';src:url(/static/fonts/serif.woff2) format(\"woff2\");"
        "font-display:swap}\n",
        content_type=CT_CSS,
    )
    add(requisites[2], WOFF2, content_type="font/woff2")
    add(requisites[3], PNG, content_type="image/png")
    add(
        requisites[4],
        "document.documentElement.classList.add('js');\n"
        "window.dl=window.dl||{};dl.track=function(e){/* analytics stub */};\n",
        content_type=CT_JS,
    )
    add(requisites[5], ICO, content_type="image/x-icon")
    for u in requisites[6:9]:
        add(u, JPEG, content_type="image/jpeg")
    add(widgets, "window.twttr=window.twttr||{widgets:{load:function(){}}};\n", content_type=CT_JS)

    # -- navigation targets
    navigation = [f"{site}/"] + [f"{site}/{s}/" for s in sections]
    navigation += [site + p for p, _ in trending] + [site + p for p in footer] + [twitter_profile]
    home = f"{site}/"
    teasers = [(article, title)] + [(site + p, t) for p, t in trending]
    teaser_html = "\n".join(
        f'<article class="teaser"><h2><a href="{u}">{t}</a></h2></article>' for u, t in teasers
    )
    add(home, _page("The Daily Ledger", f'<header><a href="/">The Daily Ledger</a></header>\n{teaser_html}'))
    for s in sections:
        add(f"{site}/{s}/", _page(f"{s.title()} | The Daily Ledger", f"<h1>{s.title()}</h1>\n{teaser_html}"))
    for p, t in trending:
        add(
            site + p,
            _page(
                f"{t} | The Daily Ledger",
                f'<article class="story"><h1>{t}</h1><div class="article-body"><p>Staff report. More details '
                "are expected later today, officials said.</p></div></article>\n"
                '<nav><a href="/">Home</a></nav>',
            ),
        )
    for p in footer:
        name = p.strip("/").title()
        add(
            site + p,
            _page(f"{name} | The Daily Ledger", f"<h1>{name}</h1><p>The Daily Ledger, since 1998.</p>"),
        )
    add(site + "/authors/jordan-pike/", _page("Jordan Pike | The Daily Ledger", "<h1>Jordan Pike</h1>"))

    # -- ads
    for i, ad in enumerate(ads):
        creative = f"https://ads.adnet.test/creative/{1000 + i}.png"
        add(
            ad,
            '<!DOCTYPE html><html><body style="margin:0">'
            f'<a href="https://ads.adnet.test/click?c={1000 + i}" '
            f'target="_blank"><img src="{creative}" alt="Advertisement"></a></body></html>',
            headers={"Cache-Control": "no-store"},
        )
        add(creative, PNG, content_type="image/png")

    # -- cited: government statement
    gov_css = "https://www.epa.test/css/gov.css"
    add(
        epa,
        _page(
            "Statement on Senate Passage of the Clean Water Infrastructure Act | EPA",
            '<header class="gov-banner"><img src="/img/seal.svg" alt="Agency seal" width="48" height="48">'
            "<span>An official website of the government</span></header>\n"
            "<main><h1>Statement on Senate Passage of the Clean Water Infrastructure Act</h1>\n"
            '<p class="dateline">Release date: November 3, 2026</p>\n'
            "<p>The Administrator issued the following statement: &ldquo;Tonight's bipartisan vote brings us "
            "closer to the day when no family has to wonder whether the water from their tap is safe. "
            "The Agency stands ready to help every state replace its remaining lead service lines "
            "within ten years.&rdquo;</p>\n"
            "<p>Contact: press@epa.test</p></main>",
            css="/css/gov.css",
        ),
    )
    gov_reqs = [
        gov_css,
        "https://www.epa.test/css/print.css",
        "https://www.epa.test/fonts/gov.woff2",
        "https://www.epa.test/img/seal.svg",
    ]
    add(
        gov_css,
        '@import url("/css/print.css");\n'
        "@font-face{font-family:'Public Sans';src:url(/fonts/gov.woff2) format('woff2')}\n"
        'body{font-family:"Public Sans",sans-serif}\n'
        '.gov-banner{background:url("../img/seal.svg") no-repeat}\n',
        content_type=CT_CSS,
    )
    add(gov_reqs[1], "@media print{.gov-banner{display:none}}\n", content_type=CT_CSS)
    add(gov_reqs[2], WOFF2, content_type="font/woff2")
    add(gov_reqs[3], SVG, content_type="image/svg+xml")

    # -- cited: gzip-encoded wire story
    wire_reqs = [
        "https://news.wire.test/img/vote-board.jpg",
        "https://news.wire.test/img/a-480.jpg",
        "https://news.wire.test/img/a-960.jpg",
    ]
    add(
        wire,
        _page(
            "Eleven Republicans join Democrats to pass water bill - Wire News Service",
            "<article><h1>Eleven Republicans join Democrats to pass water bill</h1>\n"
            '<p class="byline">By Wire News Service staff</p>\n'
            '<img src="/img/vote-board.jpg" alt="The vote board in the Senate chamber">\n'
            "<p>WASHINGTON (WNS) &mdash; The Senate approved the Clean Water Infrastructure Act 61-38 "
            "late Monday, with eleven Republicans joining all Democrats in support, according to the "
            "official roll call.</p>\n"
            '<img src="/img/a-480.jpg" srcset="/img/a-480.jpg 480w, /img/a-960.jpg 960w" sizes="100vw" '
            'alt="Senators leave the chamber">\n'
            "<p>The bill now goes to the House.</p></article>",
            css=None,
        ),
        gzip=True,
        headers={"Vary": "Accept-Encoding"},
    )
    for u in wire_reqs:
        add(u, JPEG, content_type="image/jpeg")

    # -- cited: slow chunked report
    paragraphs = "\n".join(
        f"<p>Section {i}. The Council's model assumes phased replacement of service lines, "
        f"with the costliest work concentrated in older cities during years {i} and {i + 1} "
        "of the program.</p>"
        for i in range(1, 9)
    )
    add(
        slow,
        _page(
            "The Cost of Clean Water: An Independent Estimate | Water Systems Research Council",
            "<h1>The Cost of Clean Water</h1>\n"
            f"<p>Executive summary: $212 billion over ten years.</p>\n{paragraphs}",
            css=None,
        ),
        chunked=True,
        chunks=6,
        chunk_delay=0.2,
    )

    # -- cited: 404
    add(
        gone,
        _page(
            "Page not found",
            '<h1>Sorry, this page no longer exists.</h1><p><a href="/">Home</a></p>',
            css=None,
        ),
        status=404,
    )

    # -- cited: shortener -> redirector -> statistics table
    add(short, status=301, redirect=bit)
    add(bit, status=302, redirect=stats)
    rows = "\n".join(
        f'<tr><th scope="row">{region}</th><td>{homes}</td><td>{share}</td></tr>'
        for region, homes, share in [
            ("Northeast", "2,410,000", "10.7%"),
            ("Midwest", "3,180,000", "11.9%"),
            ("South", "2,350,000", "5.1%"),
            ("West", "1,260,000", "4.4%"),
        ]
    )
    add(
        stats,
        _page(
            "Table 7. Homes served by lead service lines, by region | National Statistics Bureau",
            "<h1>Table 7. Homes served by lead service lines, by region</h1>\n<table>\n"
            "<thead><tr><th>Region</th><th>Homes</th><th>Share of homes</th></tr></thead>\n"
            f"<tbody>\n{rows}\n</tbody>\n</table>\n<p>Total: 9,200,000 homes.</p>",
            css="/css/stats.css",
        ),
    )
    add("https://www.statistics.test/css/stats.css", "table{border-collapse:collapse}\n", content_type=CT_CSS)

    # -- tweets: JS-shell status pages, profile, oEmbed
    shell = (
        '<!DOCTYPE html><html dir="ltr" lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1"><title>X</title>'
        '<script src="https://abs.twimg.com/responsive-web/client-web/main.js" nonce="abc"></script>'
        "</head><body><noscript>JavaScript is not available.</noscript>"
        '<div id="react-root"></div></body></html>'
    )
    add("https://abs.twimg.com/responsive-web/client-web/main.js", "/* app */\n", content_type=CT_JS)
    add(twitter_profile, shell)
    oembed_docs: dict[str, dict[str, Any]] = {}
    oembed: list[str] = []
    for (status, name, handle, text, date), link in zip(tweets, tweet_links, strict=True):
        add(status, shell, match_any_query=True)
        doc = {
            "url": status,
            "author_name": name,
            "author_url": f"https://twitter.com/{handle}",
            "html": f'<blockquote class="twitter-tweet"><p lang="en" dir="ltr">{text}</p>&mdash; {name} '
            f'(@{handle}) <a href="{link}">{date}</a></blockquote>\n'
            f'<script async src="{widgets}" charset="utf-8"></script>\n',
            "width": 550,
            "height": None,
            "type": "rich",
            "cache_age": "3153600000",
            "provider_name": "Twitter",
            "provider_url": "https://twitter.com",
            "version": "1.0",
        }
        oembed_docs[status] = doc
        u = "https://publish.twitter.com/oembed?" + urlencode({"url": status})
        add(u, json.dumps(doc), content_type=CT_JSON)
        oembed.append(u)

    def tweet_oembed(req: FakeRequest) -> str | None:
        target = dict(parse_qsl(urlsplit(req.url).query)).get("url", "").split("?")[0]
        doc = oembed_docs.get(target)
        return json.dumps(doc) if doc else None

    fw.add("https://publish.twitter.com/oembed", tweet_oembed, content_type=CT_JSON, match_any_query=True)

    # -- YouTube
    yt_doc = {
        "title": "Flint residents describe years of boil-water notices at town hall",
        "author_name": "Michigan Public Forum",
        "author_url": "https://www.youtube.com/@michiganpublicforum",
        "type": "video",
        "height": 113,
        "width": 200,
        "version": "1.0",
        "provider_name": "YouTube",
        "provider_url": "https://www.youtube.com/",
        "thumbnail_height": 360,
        "thumbnail_width": 480,
        "thumbnail_url": "https://i.ytimg.com/vi/dQw4w9WgXcQ/hqdefault.jpg",
        "html": '<iframe width="200" height="113" '
        'src="https://www.youtube.com/embed/dQw4w9WgXcQ?feature=oembed" '
        'frameborder="0" allowfullscreen title="Flint town hall"></iframe>',
    }
    add(
        youtube,
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>YouTube</title>'
        '<script src="https://www.youtube.com/s/desktop/base.js"></script></head>'
        '<body><div id="player"></div></body></html>',
    )
    add("https://www.youtube.com/s/desktop/base.js", "/* player */\n", content_type=CT_JS)
    yt_oembed = "https://www.youtube.com/oembed?" + urlencode({"url": youtube, "format": "json"})
    add(yt_oembed, json.dumps(yt_doc), content_type=CT_JSON)
    fw.add("https://www.youtube.com/oembed", json.dumps(yt_doc), content_type=CT_JSON, match_any_query=True)
    add("https://i.ytimg.com/vi/dQw4w9WgXcQ/hqdefault.jpg", JPEG, content_type="image/jpeg")
    oembed.append(yt_oembed)

    return NewsSite(
        article=article,
        title=title,
        home=home,
        cited=[epa, wire, slow, gone, short, youtube],
        requisites=requisites,
        navigation=navigation,
        ads=ads,
        tweet_links=tweet_links,
        tweet_status=[t[0] for t in tweets],
        oembed=oembed,
        youtube=youtube,
        not_found=gone,
        shortener=short,
        redirect_chain=[short, bit, stats],
        gzip_page=wire,
        slow_page=slow,
        gov_page=epa,
        cited_requisites={
            epa: gov_reqs,
            wire: wire_reqs,
            stats: ["https://www.statistics.test/css/stats.css"],
        },
        all_urls=registered,
    )
