"""Checking one cited URL live against its archived copy, cheaply: fetch (guarded, proxy-aware)
and classify it as alive, redirected, drifted, gone or error.

How a URL is fetched, cheapest first:
- an archived HTML/text copy with validators: a conditional GET (If-None-Match / If-Modified-Since
  from the archived response); 304 means alive without a body;
- an archived HTML/text copy without validators: a GET, because drift needs the live text;
- anything else (nothing archived, images, PDFs): a HEAD, then a GET only when the HEAD does not
  settle it (an HTML page to inspect for soft 404s, HEAD refused or failing).

Fetches honour http_proxy/https_proxy/no_proxy. Through a proxy, TLS certificates are not
verified: the operator's proxy is a trusted hop (DESIGN.md) and intercepting proxies re-sign. Direct,
they are verified; an invalid certificate is retried unverified and noted in `detail`, so a page
readers can still open (and that the capture engine, like Scrapy, fetched unverified) is not an
error. Private addresses are refused unless `allow_private_networks`: IP literals always, names by
resolving them first when no proxy is used. Through a proxy a vanished domain shows as the proxy's
502/503 and so as `error`; direct, a name that does not resolve is `gone`.
"""

from __future__ import annotations

import socket
import ssl
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar
from urllib.parse import urljoin, urlsplit

import httpx

from citevault.crawler.netpolicy import host_refusal, resolved_refusal

from ..config import Settings
from .classify import (
    GONE_STATUS,
    TEXT_TYPES,
    CheckResult,
    Live,
    Reference,
    classify,
    mime_of,
    read_page,
    text_similarity,
)

__all__ = ["LinkChecker", "check_url"]

_MAX_REDIRECTS = 10
_MAX_BODY = 5_000_000  # bytes read of a live page; more is never needed to compare article text
_HOME_SIMILARITY = 0.9


E = TypeVar("E", bound=BaseException)


class _Refused(Exception):
    pass


def _cause(exc: BaseException, kind: type[E]) -> E | None:
    """The first exception of `kind` in the chain of causes and contexts of `exc`."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _dns_failure(exc: BaseException) -> socket.gaierror | None:
    return _cause(exc, socket.gaierror)


def _cert_failure(exc: BaseException) -> bool:
    return _cause(exc, ssl.SSLCertVerificationError) is not None


class LinkChecker:
    """Checks URLs against their archived copies. Thread-safe; close() (or `with`) when done."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._proxies = urllib.request.getproxies()
        self._clients: dict[tuple[str | None, bool], httpx.Client] = {}
        self._homes: dict[str, str | None] = {}
        self._hosts: dict[str, threading.Semaphore] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> LinkChecker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for c in clients:
            c.close()

    def _proxy_for(self, url: str) -> str | None:
        parts = urlsplit(url)
        proxy = self._proxies.get(parts.scheme)
        if not proxy or urllib.request.proxy_bypass(parts.hostname or ""):
            return None
        return proxy if "://" in proxy else "http://" + proxy

    def _client(self, proxy: str | None, verify: bool) -> httpx.Client:
        # Proxies are chosen above, not by httpx's trust_env, because the guard and the TLS policy
        # need to know whether a URL goes through one.
        with self._lock:
            key = (proxy, verify)
            if key not in self._clients:
                self._clients[key] = httpx.Client(
                    proxy=proxy, verify=verify, trust_env=False, follow_redirects=False,
                    timeout=self.settings.timeout,
                    headers={"User-Agent": self.settings.user_agent,
                             "Accept": "text/html,application/xhtml+xml,*/*;q=0.8"},
                )
            return self._clients[key]

    def _refusal(self, url: str, proxied: bool) -> str | None:
        if self.settings.allow_private_networks:
            return None
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        # The crawler's network policy, so that captures and checks refuse the same addresses.
        reason = host_refusal(host)
        if reason or proxied:  # through a proxy, other names are the proxy's to resolve
            return reason
        port = parts.port or (443 if parts.scheme == "https" else 80)
        for *_, addr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
            found = resolved_refusal(host, str(addr[0]))
            if found:
                return found
        return None

    def _send(self, method: str, url: str, headers: dict[str, str], notes: list[str]) -> httpx.Response:
        proxy = self._proxy_for(url)
        reason = self._refusal(url, proxy is not None)
        if reason:
            raise _Refused(reason)
        client = self._client(proxy, proxy is None)
        try:
            return client.send(client.build_request(method, url, headers=headers), stream=True)
        except httpx.ConnectError as exc:
            if proxy is not None or not _cert_failure(exc):
                raise
        notes.append(f"TLS certificate of {urlsplit(url).hostname} not valid")
        client = self._client(None, False)
        return client.send(client.build_request(method, url, headers=headers), stream=True)

    def _fetch(self, method: str, url: str, headers: dict[str, str]) -> Live:
        """One request, redirects followed by hand so that every hop passes the guard."""
        current, notes = url, list[str]()
        for hop in range(_MAX_REDIRECTS + 1):
            # Validators describe the first URL's archived copy only.
            resp = self._send(method, current, headers if hop == 0 else {}, notes)
            try:
                location = resp.headers.get("location")
                if resp.is_redirect and location:
                    current = urljoin(current, location)
                    continue
                body = bytearray()
                if method != "HEAD":
                    for chunk in resp.iter_bytes():
                        body += chunk
                        if len(body) >= _MAX_BODY:
                            break
                return Live(current, resp.status_code, resp.headers, bytes(body), notes)
            finally:
                resp.close()
        raise _Refused(f"more than {_MAX_REDIRECTS} redirects")

    @contextmanager
    def _host_slot(self, url: str) -> Iterator[None]:
        host = urlsplit(url).hostname or ""
        with self._lock:
            sem = self._hosts.setdefault(host, threading.Semaphore(self.settings.concurrency_per_host))
        with sem:
            yield

    def check(self, url: str, ref: Reference | None = None) -> CheckResult:
        """Classify one URL now. Never raises for network trouble: that is an `error` outcome."""
        try:
            with self._host_slot(url):
                if ref is not None and ref.text is not None:
                    live = self._fetch("GET", url, ref.validators)
                else:
                    live = self._fetch("HEAD", url, {})
                    texty = mime_of(live.headers.get("content-type")) in TEXT_TYPES
                    if not (live.status in GONE_STATUS or 200 <= live.status < 300 and not texty):
                        live = self._fetch("GET", url, {})
            return classify(url, live, ref, self.settings.drift_threshold, self._serves_home)
        except _Refused as exc:
            return CheckResult(url, "error", detail=str(exc))
        except (httpx.HTTPError, httpx.InvalidURL, OSError, UnicodeError) as exc:
            dns = _dns_failure(exc)
            if dns is not None and dns.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)):
                return CheckResult(url, "gone", detail=f"domain does not resolve ({dns.strerror})")
            if isinstance(exc, httpx.TimeoutException):
                return CheckResult(url, "error", detail=f"timed out after {self.settings.timeout:g} s")
            return CheckResult(url, "error", detail=f"{type(exc).__name__}: {exc}"[:500])

    def _serves_home(self, url: str, text: str) -> bool:
        """Whether a deep link now shows its site's home page (fetched once per site and run)."""
        p = urlsplit(url)
        home = f"{p.scheme}://{p.netloc}/"
        if home not in self._homes:
            try:
                live = self._fetch("GET", home, {})
                page = read_page(live.body, live.headers.get("content-type"), live.url)
                self._homes[home] = page.text if page and live.status == 200 else None
            except (httpx.HTTPError, OSError, _Refused):
                self._homes[home] = None
        home_text = self._homes[home]
        return bool(home_text) and text_similarity(text, home_text or "") >= _HOME_SIMILARITY


def check_url(settings: Settings, url: str, reference: Reference | None = None) -> CheckResult:
    """Check one URL now against its archived copy (if any)."""
    with LinkChecker(settings) as checker:
        return checker.check(url, reference)
