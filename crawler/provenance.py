"""Provenance of a capture: for every origin contacted, the address connected to (or the proxy),
the DNS answers we resolved, the TLS version and cipher, the certificate chain and whether it
validated (errors recorded, not hidden). Collected into a framework-free `ProvenanceCollector`:
the https download handler of tlsfacts.py passes each handshake's facts to `add_tls`, and the
middleware here the peer, proxy and DNS answers once a response came back."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.http import Response

__all__ = [
    "OriginFacts",
    "ProvenanceCollector",
    "ProvenanceMiddleware",
]


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{host}:{port}", host, port


def _safe_proxy(proxy: str) -> str:
    """A proxy URL without its credentials."""
    parts = urlsplit(proxy if "://" in proxy else "http://" + proxy)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, "", "", ""))


@dataclass
class OriginFacts:
    """What we know of one origin (scheme://host:port) from the fetches of a crawl."""

    origin: str
    connected_to: set[str] = field(default_factory=set)  # peer addresses (the site's, or none via proxy)
    proxy: str | None = None
    dns: set[str] | None = None  # answers of our resolver; None when a proxy resolved the name
    tls: list[dict[str, Any]] = field(default_factory=list)  # distinct handshakes

    def as_dict(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "connected_to": sorted(self.connected_to),
            "proxy": self.proxy,
            "dns_answers": sorted(self.dns) if self.dns is not None else None,
            "dns_note": "resolved by the proxy" if self.proxy and self.dns is None else None,
            "tls": self.tls,
        }


class ProvenanceCollector:
    """Facts of every origin a crawl contacted. Thread-safe; `ca_file` is the trust store the
    certificate chains are validated against (default: certifi's Mozilla bundle)."""

    def __init__(self, ca_file: str | None = None) -> None:
        self.ca_file = ca_file
        self._store: Store | None = None
        self._lock = threading.Lock()
        self._origins: dict[str, OriginFacts] = {}

    def _facts(self, origin: str) -> OriginFacts:
        if origin not in self._origins:
            self._origins[origin] = OriginFacts(origin)
        return self._origins[origin]

    # -- fed by the crawler ----------------------------------------------------------------------
    def observe(self, url: str, *, ip: str | None, proxy: str | None, dns: list[str] | None) -> None:
        """A response came back for `url`: from `ip` (the peer), through `proxy` if any."""
        origin, _, _ = _origin(url)
        with self._lock:
            facts = self._facts(origin)
            if proxy:
                facts.proxy = _safe_proxy(proxy)
            elif ip:
                facts.connected_to.add(ip)
            if dns:
                facts.dns = (facts.dns or set()) | set(dns)

    def add_tls(
        self,
        origin: str,
        *,
        version: str | None,
        chain: list[x509.Certificate],
        cipher: str | None = None,
        error: str | None = None,
    ) -> dict[str, Any]:
        """One TLS handshake with `origin` ("https://host:443"): the protocol version, the chain the
        server sent (leaf first), and a handshake error if any. The chain is validated here, and
        the entry returned (the snapshot's TLS record reuses it). Called by the https download
        handler (tlsfacts.py) for each new handshake, browser capture's included: the browser's
        requests are downloaded by the crawl's own downloader (browsercapture.py)."""
        host = urlsplit(origin).hostname or ""
        validated, why = self._validate(host, chain) if chain else (False, error or "no certificate")
        entry = {
            "version": version,
            "cipher": cipher,
            "chain": [c.public_bytes(Encoding.PEM).decode("ascii") for c in chain],
            "subjects": [c.subject.rfc4514_string() for c in chain],
            "validated": validated,
            "validation_error": why,
            "handshake_error": error,
        }
        with self._lock:
            facts = self._facts(origin)
            if entry not in facts.tls:
                facts.tls.append(entry)
        return entry

    def _validate(self, host: str, certs: list[x509.Certificate]) -> tuple[bool, str | None]:
        """Whether the chain validates for `host` against the trust store, now (and why not)."""
        try:
            if self._store is None:
                self._store = Store(x509.load_pem_x509_certificates(Path(self._ca_path()).read_bytes()))
            try:
                name: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
            except ValueError:
                name = x509.DNSName(host)
            verifier = PolicyBuilder().store(self._store).time(datetime.now(UTC)).build_server_verifier(
                name  # type: ignore[arg-type]
            )
            verifier.verify(certs[0], certs[1:])
        except (VerificationError, ValueError, OSError) as exc:
            return False, str(exc) or type(exc).__name__
        return True, None

    def _ca_path(self) -> str:
        if self.ca_file:
            return self.ca_file
        import certifi

        return str(certifi.where())

    # -- read when a snapshot is sealed ----------------------------------------------------------
    def origins_for(self, urls: Iterable[str]) -> list[dict[str, Any]]:
        """The facts of the origins of `urls`, sorted by origin."""
        wanted = {_origin(u)[0] for u in urls if u and not u.startswith("urn:")}
        with self._lock:
            return [self._origins[o].as_dict() if o in self._origins else OriginFacts(o).as_dict()
                    for o in sorted(wanted)]

    def trust_store(self) -> str:
        return self._ca_path()


# -- Scrapy component ----------------------------------------------------------------------------
class ProvenanceMiddleware:
    """Downloader middleware: tells the spider's collector, for each response, the peer address,
    the proxy used and the DNS answers our resolver gave for the host."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ProvenanceMiddleware:
        return cls(crawler)

    def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Response:
        collector = getattr(self.crawler.spider, "provenance", None)
        if isinstance(collector, ProvenanceCollector):
            proxy = request.meta.get("proxy")
            host = urlsplit(request.url).hostname or ""
            dns = None
            if not proxy:
                from twisted.internet import reactor

                answers = getattr(getattr(reactor, "resolver", None), "answers", None)
                dns = sorted(answers.get(host, ())) if isinstance(answers, dict) else None
            ip = response.ip_address
            collector.observe(request.url, ip=str(ip) if ip is not None else None, proxy=proxy, dns=dns)
        return response
