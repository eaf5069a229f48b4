"""The provenance collector: per origin the peer or proxy (credentials dropped), DNS answers, and
TLS handshakes with their chain validated against the trust store given (errors kept)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from citevault.crawler.provenance import ProvenanceCollector


def _chain(host: str) -> tuple[x509.Certificate, x509.Certificate]:
    now = dt.datetime.now(dt.UTC)
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test root")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(1)
          .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=9))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                         critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(ca_name).public_key(leaf_key.public_key()).serial_number(2)
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=9))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    return ca, leaf


def test_chains_are_validated_and_errors_kept(tmp_path: Path) -> None:
    ca, leaf = _chain("news.test")
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    c = ProvenanceCollector(str(ca_file))
    c.add_tls("https://news.test:443", version="TLSv1.3", chain=[leaf], cipher="TLS_AES_128_GCM_SHA256")
    c.add_tls("https://other.test:443", version="TLSv1.2", chain=[leaf])  # news.test's: another name
    c.add_tls("https://broken.test:443", version=None, chain=[], error="handshake failed: alert 40")
    origins = {o["origin"]: o for o in c.origins_for(
        ["https://news.test/a", "https://other.test/b", "https://broken.test/", "urn:citevault:x"])}
    assert set(origins) == {"https://news.test:443", "https://other.test:443", "https://broken.test:443"}
    good = origins["https://news.test:443"]["tls"][0]
    assert good["validated"] and good["validation_error"] is None and good["subjects"] == ["CN=news.test"]
    bad = origins["https://other.test:443"]["tls"][0]
    assert not bad["validated"] and bad["validation_error"]
    broken = origins["https://broken.test:443"]["tls"][0]
    assert not broken["validated"] and broken["handshake_error"] == "handshake failed: alert 40"


def test_peer_proxy_and_dns_per_origin() -> None:
    c = ProvenanceCollector()
    c.observe("http://direct.test/a", ip="203.0.113.7", proxy=None, dns=["203.0.113.7"])
    c.observe("http://direct.test/b", ip="203.0.113.8", proxy=None, dns=["203.0.113.8"])
    c.observe("https://proxied.test/", ip="127.0.0.1", proxy="http://user:secret@proxy.test:3128", dns=None)
    origins = {o["origin"]: o for o in c.origins_for(["http://direct.test/", "https://proxied.test/"])}
    direct = origins["http://direct.test:80"]
    assert direct["connected_to"] == ["203.0.113.7", "203.0.113.8"] and direct["proxy"] is None
    assert direct["dns_answers"] == ["203.0.113.7", "203.0.113.8"]
    proxied = origins["https://proxied.test:443"]
    assert proxied["proxy"] == "http://proxy.test:3128" and proxied["connected_to"] == []
    assert proxied["dns_answers"] is None and proxied["dns_note"] == "resolved by the proxy"


def test_software_versions_are_looked_up_once_a_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """The provenance record's versions: importlib.metadata is asked once a process (seven
    look-ups were 6-12 ms of every job's crawl), and each caller gets a dict of its own."""
    from importlib import metadata

    from citevault.crawler import seal

    asked: list[str] = []
    real = metadata.version

    def version(dist: str) -> str:
        asked.append(dist)
        return real(dist)

    monkeypatch.setattr(metadata, "version", version)
    seal._versions.cache_clear()
    try:
        first = seal.software_versions()
        first["scrapy"] = "changed by a caller"
        again = seal.software_versions()
    finally:
        seal._versions.cache_clear()
    assert again["citevault"] == real("citevault") and again["scrapy"] == real("scrapy")
    assert asked.count("scrapy") == 1 and len(asked) == 7
