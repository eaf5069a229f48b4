"""The upstream TLS facts of each https origin a crawl contacted (certificate chain, TLS version,
whether the chain and the host name validated), for the evidence a capture carries.

Scrapy does not verify certificates (an archive wants the page even when its certificate is
bad), so verification here never fails a connection: the chain the server presented is taken
from the handshake and validated beside it, and what was found is recorded, errors included.

Each handshake's facts are worked out once, by the crawl's provenance collector (chain
validation against CITEVAULT_TLS_CA_FILE, PEM, subjects: crawler/provenance.py), and only for a
handshake not seen before in the crawl (Scrapy opens several connections to one origin): the
snapshot's TLS record takes its origin's first handshake from that same entry.
"""

from __future__ import annotations

import threading
from typing import Any, cast

from cryptography import x509
from OpenSSL import SSL, crypto
from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.crawler import Crawler
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from twisted.web.iweb import IPolicyForHTTPS
from zope.interface import implementer

__all__ = ["RecordingHTTPSHandler", "TLSFacts"]


class TLSFacts:
    """Per crawl: origin ("https://host:port") -> what its first TLS handshake showed, and which
    handshakes were seen. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.origins: dict[str, dict[str, Any]] = {}
        self._handshakes: set[tuple[Any, ...]] = set()

    def first_time(self, handshake: tuple[Any, ...]) -> bool:
        """Whether `handshake` (origin, version, cipher, chain) is new to this crawl."""
        with self._lock:
            if handshake in self._handshakes:
                return False
            self._handshakes.add(handshake)
            return True

    def add(self, origin: str, facts: dict[str, Any]) -> None:
        with self._lock:
            self.origins.setdefault(origin, facts)

    def of(self, origins: set[str]) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {o: self.origins[o] for o in sorted(origins) if o in self.origins}


@implementer(IOpenSSLClientConnectionCreator)
class _RecordingCreator:
    """Wraps Scrapy's connection creator: same connection, plus a verify callback that records
    the chain the server presented (OpenSSL hands each certificate to it, root side first)."""

    def __init__(self, inner: Any, host: str, port: int, crawler: Crawler) -> None:
        self.inner, self.host, self.port, self.crawler = inner, host, port, crawler

    def clientConnectionForTLS(self, tlsProtocol: Any) -> SSL.Connection:  # noqa: N802 (Twisted's name)
        conn: SSL.Connection = self.inner.clientConnectionForTLS(tlsProtocol)
        chain: dict[int, x509.Certificate] = {}

        def verify(c: SSL.Connection, cert: crypto.X509, err: int, depth: int, ok: int) -> bool:
            try:
                chain[depth] = cert.to_cryptography()
                if depth == 0:
                    self._record(c, [chain[d] for d in sorted(chain)])
            except Exception:  # noqa: S110 - recording must never break the fetch
                pass
            return True  # record, never refuse: the archive keeps what the server sent

        conn.set_verify(SSL.VERIFY_PEER, verify)
        return conn

    def _record(self, conn: SSL.Connection, chain: list[x509.Certificate]) -> None:
        spider = self.crawler.spider
        collector = getattr(spider, "provenance", None)  # the snapshot's provenance record's
        if collector is None:
            return
        facts = getattr(spider, "tls_facts", None)
        version, cipher = conn.get_protocol_version_name(), conn.get_cipher_name()
        key = f"https://{self.host.lower()}:{self.port}"
        if isinstance(facts, TLSFacts) and not facts.first_time((key, version, cipher, *chain)):
            return  # the same facts again: the collector keeps distinct handshakes only
        entry = collector.add_tls(key, chain=list(chain), version=version, cipher=cipher)
        if not isinstance(facts, TLSFacts):
            return
        leaf = chain[0]
        why = entry["validation_error"]
        facts.add(f"https://{self.host}" + ("" if self.port == 443 else f":{self.port}"), {
            "tls_version": version,
            "cipher": cipher,
            "subject": entry["subjects"][0],
            "issuer": leaf.issuer.rfc4514_string(),
            "not_after": leaf.not_valid_after_utc.isoformat(),
            "validated": entry["validated"],
            "errors": [" ".join(why.split())] if why else [],
            "chain_pem": entry["chain"],
        })


@implementer(IPolicyForHTTPS)
class _RecordingPolicy:
    def __init__(self, inner: Any, crawler: Crawler) -> None:
        self.inner, self.crawler = inner, crawler

    def creatorForNetloc(self, hostname: bytes, port: int) -> _RecordingCreator:  # noqa: N802
        return _RecordingCreator(
            self.inner.creatorForNetloc(hostname, port), hostname.decode("ascii"), port, self.crawler
        )


class RecordingHTTPSHandler(HTTP11DownloadHandler):
    """Scrapy's HTTP/1.1 handler for https, its TLS policy wrapped to record each origin's facts
    into the spider's `tls_facts` (also through a proxy: TLS runs end to end inside CONNECT)."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self._contextFactory = cast(IPolicyForHTTPS, _RecordingPolicy(self._contextFactory, crawler))
