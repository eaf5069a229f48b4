"""The upstream TLS facts of each https origin a crawl contacted (certificate chain, TLS version,
whether the chain and the host name validated), for the evidence a capture carries.

Scrapy does not verify certificates (an archive wants the page even when its certificate is
bad), so verification here never fails a connection: the chain the server presented is taken
from the handshake and validated beside it (cryptography's path validation, the system trust
store, the host name), and what was found is recorded, errors included.
"""

from __future__ import annotations

import functools
import os
import ssl
import threading
import warnings
from typing import Any, cast

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.general_name import DNSName, IPAddress
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from OpenSSL import SSL, crypto
from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.crawler import Crawler
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from twisted.web.iweb import IPolicyForHTTPS
from zope.interface import implementer

from .netpolicy import as_ip

__all__ = ["RecordingHTTPSHandler", "TLSFacts", "validate_chain"]


class TLSFacts:
    """Per crawl: origin ("https://host:port") -> what its TLS handshake showed. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.origins: dict[str, dict[str, Any]] = {}

    def add(self, origin: str, facts: dict[str, Any]) -> None:
        with self._lock:
            self.origins.setdefault(origin, facts)

    def of(self, origins: set[str]) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {o: self.origins[o] for o in sorted(origins) if o in self.origins}


@functools.lru_cache(maxsize=1)
def _system_store() -> Store | None:
    """The system's trust anchors (Debian's ca-certificates), loaded once per process."""
    paths = ssl.get_default_verify_paths()
    for cafile in (paths.cafile, paths.openssl_cafile, "/etc/ssl/certs/ca-certificates.crt"):
        if cafile and os.path.isfile(cafile):
            with open(cafile, "rb") as fh, warnings.catch_warnings():
                # A few old anchors have non-positive serial numbers; they still anchor chains.
                warnings.simplefilter("ignore", CryptographyDeprecationWarning)
                certs = x509.load_pem_x509_certificates(fh.read())
            return Store(certs) if certs else None
    return None


def validate_chain(host: str, chain: list[x509.Certificate]) -> list[str]:
    """Why the chain (leaf first) does not validate for `host` against the system trust store,
    with cryptography's X.509 path validation: empty when it does."""
    store = _system_store()
    if store is None:
        return ["no system trust store to validate against"]
    ip = as_ip(host)
    subject: DNSName | IPAddress = IPAddress(ip) if ip is not None else DNSName(host)
    try:
        PolicyBuilder().store(store).build_server_verifier(subject).verify(chain[0], chain[1:])
    except (VerificationError, ValueError) as exc:
        return [" ".join(str(exc).split())]
    return []


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
        collector = getattr(self.crawler.spider, "provenance", None)
        if collector is not None:  # the snapshot's provenance record (crawler/provenance.py)
            collector.add_tls(f"https://{self.host.lower()}:{self.port}", chain=list(chain),
                              version=conn.get_protocol_version_name(), cipher=conn.get_cipher_name())
        facts = getattr(self.crawler.spider, "tls_facts", None)
        if not isinstance(facts, TLSFacts):
            return
        origin = f"https://{self.host}" + ("" if self.port == 443 else f":{self.port}")
        if origin in facts.origins:
            return
        errors = validate_chain(self.host, chain)
        leaf = chain[0]
        facts.add(origin, {
            "tls_version": conn.get_protocol_version_name(),
            "cipher": conn.get_cipher_name(),
            "subject": leaf.subject.rfc4514_string(),
            "issuer": leaf.issuer.rfc4514_string(),
            "not_after": leaf.not_valid_after_utc.isoformat(),
            "validated": not errors,
            "errors": errors,
            "chain_pem": [c.public_bytes(serialization.Encoding.PEM).decode() for c in chain],
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
