"""The fake web: routes, a request log and a background HTTP server/proxy; ``with FakeWeb() as fw:``."""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from .resources import Resource
from .routes import (
    Body,
    BodyFactory,
    FakeRequest,
    HeaderSpec,
    Route,
    canonical_query,
    normalize_url,
    split_url,
)
from .server import Server
from .tls import TLS

__all__ = ["FakeWeb"]

_OTHER_SCHEME = {"http": "https", "https": "http"}


class FakeWeb:
    """Routes + request log + a background HTTP server/proxy. Use as ``with FakeWeb() as fw:``."""

    def __init__(self) -> None:
        self._routes: dict[str, Route] = {}
        self._any_query: dict[str, Route] = {}
        self._lock = threading.Lock()
        self.requests: list[FakeRequest] = []
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._tmpdir: Path | None = None
        self.tls: TLS
        self.ca_file: Path | None = None

    # -- lifecycle

    def start(self) -> FakeWeb:
        """Start serving in a daemon thread (idempotent); returns self."""
        if self._server is not None:
            return self
        self._tmpdir = Path(tempfile.mkdtemp(prefix="fakeweb-"))
        self.tls = TLS(self._tmpdir)
        self.ca_file = self.tls.ca_file
        self._server = Server(self)
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
        body: Body | BodyFactory | Resource = b"",
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

        ``body`` may be a callable ``(FakeRequest) -> bytes | str | None`` (None gives 404), or a
        :class:`~tests.fakeweb.resources.Resource` that writes its own response (Status, Drop, ...).
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
        scheme, netloc, path, query = split_url(url)
        schemes = (scheme, _OTHER_SCHEME.get(scheme, scheme))
        q = f"?{query}" if query else ""
        with self._lock:
            for s in schemes:
                if (r := self._routes.get(f"{s}://{netloc}{path}{q}")) is not None:
                    return r
            if query:
                canon = canonical_query(query)
                for key, r in self._routes.items():
                    ks, _, rest = key.partition("://")
                    base, _, kq = rest.partition("?")
                    if ks in schemes and base == netloc + path and kq and canonical_query(kq) == canon:
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

    def log_request(self, req: FakeRequest) -> None:
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
