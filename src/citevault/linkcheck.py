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

import difflib
import re
import socket
import ssl
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar
from urllib.parse import urljoin, urlsplit

import httpx
import lxml.html
from lxml import etree

from citevault.crawler.links import main_text
from citevault.crawler.netpolicy import blocked_reason, refusal

from .config import Settings

__all__ = [
    "OUTCOMES",
    "CheckResult",
    "LinkChecker",
    "Page",
    "Reference",
    "check_url",
    "is_home_url",
    "parked_reason",
    "read_page",
    "soft_404_reason",
    "text_similarity",
]

OUTCOMES = ("alive", "redirected", "drifted", "gone", "error")
_GONE_STATUS = {404, 410, 451}
_MAX_REDIRECTS = 10
_MAX_BODY = 5_000_000  # bytes read of a live page; more is never needed to compare article text
# difflib's ratio is near-linear with autojunk for similar texts; 20k words covers long reports and
# keeps the worst case under half a second (measured: 20k words, 10% edited, 0.41 s).
_MAX_WORDS = 20_000
_HOME_SIMILARITY = 0.9
_HTML_TYPES = {"text/html", "application/xhtml+xml"}
_TEXT_TYPES = _HTML_TYPES | {"text/plain"}
_WORD_RE = re.compile(r"\w+")
_NOT_FOUND_TITLE = re.compile(
    r"\b40[14]\b|not found|(?:does ?n[o']t|does not|no longer) (?:exists?|available)|"
    r"page (?:is )?(?:missing|unavailable|removed|gone)|can(?:no|')t be found|could ?n[o']t (?:be )?found",
    re.I,
)
_NOT_FOUND_TEXT = re.compile(
    r"page not found|(?:page|article|story|post|content|document)s? (?:you (?:were |are )?"
    r"(?:looking for|requested) )?(?:was|is|could|can)(?:n[o']t| not)? (?:not )?(?:be )?(?:found|located)|"
    r"(?:page|article|story|post|content) (?:is |has )?(?:does ?n[o']t|does not|no longer) "
    r"(?:exists?|available|be found)|"
    r"\b404\b.{0,40}not found|we (?:can(?:no|')t|could ?n[o']t) find (?:the|that|this) page|"
    r"this page (?:is ?n[o']t|is not) available|(?:has|have) been (?:removed|deleted)",
    re.I,
)
_SOFT_404_MAX_WORDS = 250  # "not found" wording counts only on short pages, not inside an article
_PARKED_TEXT = re.compile(
    r"(?:this|the) domain (?:name )?(?:is|may be|might be) (?:for sale|available)|buy this domain|"
    r"domain (?:is )?(?:parked|for sale)|parked (?:free|domain)|domain (?:name )?has expired|"
    r"make an offer on this domain",
    re.I,
)
_PARKING_HOSTS = (
    "sedoparking.com", "parkingcrew.net", "bodis.com", "hugedomains.com", "dan.com", "afternic.com",
    "above.com", "parklogic.com", "domainmarket.com", "undeveloped.com",
)
_NOT_FOUND_PATH = re.compile(r"(?:^|[/_.-])(?:404|not-?found|page-?not-?found|error)(?:[/_.-]|$)", re.I)
_HOME_PATH = re.compile(r"^/?(?:(?:index|default|home)(?:\.\w+)?/?|[a-z]{2}(?:[-_][a-z]{2})?/?)?$", re.I)


# -- pure functions ---------------------------------------------------------------------------------
def text_similarity(a: str, b: str) -> float:
    """How much of two texts is the same, 0..1: difflib's ratio over their lower-cased words
    (order matters, markup and whitespace do not)."""
    wa, wb = _WORD_RE.findall(a.lower())[:_MAX_WORDS], _WORD_RE.findall(b.lower())[:_MAX_WORDS]
    if wa == wb:
        return 1.0
    if not wa or not wb:
        return 0.0
    return difflib.SequenceMatcher(None, wa, wb).ratio()


def soft_404_reason(title: str, heading: str, text: str, archived: str = "") -> str | None:
    """Why a 200 page looks like a "not found" page, or None. `archived` is the archived copy's
    title and text: wording that was there already (an article about 404s) does not count."""
    for label, value in (("title", title), ("heading", heading)):
        m = _NOT_FOUND_TITLE.search(value)
        if m and not _NOT_FOUND_TITLE.search(archived):
            return f"soft 404: the {label} says {value.strip()[:80]!r}"
    if len(text.split()) <= _SOFT_404_MAX_WORDS:
        m = _NOT_FOUND_TEXT.search(text)
        if m and not _NOT_FOUND_TEXT.search(archived):
            return f"soft 404: the page says {m.group(0)!r}"
    return None


def parked_reason(url: str, title: str, text: str) -> str | None:
    """Why a page looks like a parked or for-sale domain, or None."""
    host = (urlsplit(url).hostname or "").lower()
    if any(host == h or host.endswith("." + h) for h in _PARKING_HOSTS):
        return f"parked domain: sent to the domain parking service {host}"
    m = _PARKED_TEXT.search(f"{title} {text[:3000]}")
    return f"parked domain: the page says {m.group(0)!r}" if m else None


def is_home_url(url: str) -> bool:
    """A site's home page (/, /index.html, /en/ ...), without a query."""
    parts = urlsplit(url)
    return not parts.query and bool(_HOME_PATH.match(parts.path or "/"))


def _same_place(a: str, b: str) -> bool:
    """Equal but for scheme, a www. prefix and a trailing slash (a redirect that moves nothing)."""
    def key(u: str) -> tuple[str, str, str]:
        p = urlsplit(u)
        return ((p.netloc or "").lower().removeprefix("www."), p.path.rstrip("/") or "/", p.query)
    return key(a) == key(b)


def _mime(content_type: str | None) -> str | None:
    return content_type.split(";")[0].strip().lower() or None if content_type else None


@dataclass(frozen=True)
class Page:
    """What a check compares of a page."""

    title: str
    heading: str
    text: str
    canonical: str | None


def read_page(body: bytes, content_type: str | None, url: str) -> Page | None:
    """Title, first heading, main text and canonical URL of an HTML or plain-text body."""
    mime = _mime(content_type)
    if mime == "text/plain":
        return Page("", "", body.decode("utf-8", "replace"), None)
    if mime not in _HTML_TYPES or not body.strip():
        return None
    candidates: list[bytes | str] = [body]
    m = re.search(r"charset=([\w.:-]+)", content_type or "", re.I)
    if m:  # the HTTP charset wins over a <meta> one, as in browsers
        try:
            candidates.insert(0, body.decode(m.group(1), "replace"))
        except LookupError:
            pass
    for html in candidates:
        try:
            doc = lxml.html.document_fromstring(html, base_url=url)
            break
        except (etree.ParserError, ValueError):  # ValueError: a str with an XML declaration
            continue
    else:
        return None
    heading = doc.xpath("string(//h1)")
    canon = doc.xpath("string(//link[@rel='canonical']/@href)").strip()
    return Page(
        " ".join((doc.findtext(".//title") or "").split()), " ".join(str(heading).split()),
        main_text(html, url), urljoin(url, canon) if canon else None,
    )


@dataclass(frozen=True)
class Reference:
    """The archived copy a live check compares with (the newest good capture of the cited URL)."""

    capture_id: int
    url: str
    timestamp: str
    status: int | None
    final_url: str  # where the archived redirects led
    mime: str | None
    title: str = ""
    text: str | None = None  # main text, for HTML and plain text
    validators: dict[str, str] = field(default_factory=dict)  # conditional request headers


# -- checking ----------------------------------------------------------------------------------------
@dataclass
class CheckResult:
    url: str
    outcome: str
    status: int | None = None
    final_url: str | None = None
    similarity: float | None = None
    detail: str | None = None
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC).replace(tzinfo=None))


@dataclass
class _Live:
    url: str
    status: int
    headers: httpx.Headers
    body: bytes
    notes: list[str]


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
        reason = refusal(host)
        if reason or proxied:  # through a proxy, other names are the proxy's to resolve
            return reason
        port = parts.port or (443 if parts.scheme == "https" else 80)
        for *_, addr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
            found: str | None = blocked_reason(str(addr[0]))
            if found:
                return found.replace(f"{addr[0]} is", f"{host} resolves to {addr[0]},", 1)
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

    def _fetch(self, method: str, url: str, headers: dict[str, str]) -> _Live:
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
                return _Live(current, resp.status_code, resp.headers, bytes(body), notes)
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
                    texty = _mime(live.headers.get("content-type")) in _TEXT_TYPES
                    if not (live.status in _GONE_STATUS or 200 <= live.status < 300 and not texty):
                        live = self._fetch("GET", url, {})
            return self._classify(url, live, ref)
        except _Refused as exc:
            return CheckResult(url, "error", detail=str(exc))
        except (httpx.HTTPError, httpx.InvalidURL, OSError, UnicodeError) as exc:
            dns = _dns_failure(exc)
            if dns is not None and dns.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)):
                return CheckResult(url, "gone", detail=f"domain does not resolve ({dns.strerror})")
            if isinstance(exc, httpx.TimeoutException):
                return CheckResult(url, "error", detail=f"timed out after {self.settings.timeout:g} s")
            return CheckResult(url, "error", detail=f"{type(exc).__name__}: {exc}"[:500])

    def _classify(self, url: str, live: _Live, ref: Reference | None) -> CheckResult:
        moved = None if live.url == url else live.url
        res = CheckResult(url, "alive", live.status, moved)

        def done(outcome: str, detail: str | None) -> CheckResult:
            res.outcome = outcome
            res.detail = "; ".join([*live.notes, detail] if detail else live.notes) or None
            return res

        if live.status == 304:
            res.similarity = 1.0
            return done("alive", "not modified since the archived copy")
        if live.status in _GONE_STATUS:
            return done("gone", f"HTTP {live.status}")
        if not 200 <= live.status < 300:
            return done("error", f"HTTP {live.status}")
        page = read_page(live.body, live.headers.get("content-type"), live.url) if live.body else None
        title, text = (page.title, page.text) if page else ("", "")
        reason = parked_reason(live.url, title, text)
        if reason:
            return done("gone", reason)
        deep = not is_home_url(url)
        if moved and deep and is_home_url(moved) and not (ref and is_home_url(ref.final_url)):
            return done("gone", f"soft 404: redirected to the site's home page {moved}")
        if moved and deep and _NOT_FOUND_PATH.search(urlsplit(moved).path):
            return done("gone", f"soft 404: redirected to an error page {moved}")
        if page is not None:
            if ref is not None and ref.text:
                res.similarity = round(text_similarity(ref.text, page.text), 4)
            changed = res.similarity is None or res.similarity < self.settings.drift_threshold
            archived = f"{ref.title} {ref.text or ''}" if ref else ""
            reason = soft_404_reason(page.title, page.heading, page.text, archived)
            if reason is None and changed and deep and page.canonical and is_home_url(page.canonical):
                reason = f"soft 404: the page names the home page {page.canonical} as canonical"
            if reason:
                return done("gone", reason)
        if moved and not _same_place(url, moved) and not (ref and _same_place(moved, ref.final_url)):
            return done("redirected", f"now at {moved}")
        if res.similarity is not None and res.similarity < self.settings.drift_threshold:
            if deep and page is not None and self._serves_home(live.url, page.text):
                return done("gone", "soft 404: serves the site's home page")
            return done("drifted", f"main text {res.similarity:.0%} like the archived copy's "
                                   f"(drift threshold {self.settings.drift_threshold:.0%})")
        return done("alive", "same place as the archived copy" if moved else None)

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
