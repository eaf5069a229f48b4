"""The https handler's TLS facts: each distinct handshake is worked out once, by the provenance
collector, and the snapshot's TLS record takes its origin's facts from that same entry."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from citevault.crawler.provenance import ProvenanceCollector
from citevault.crawler.tlsfacts import TLSFacts, _RecordingCreator
from tests.crawler.test_provenance import _chain


class _Handshake:
    """What _record asks of an OpenSSL connection."""

    def __init__(self, cipher: str) -> None:
        self.cipher = cipher

    def get_protocol_version_name(self) -> str:
        return "TLSv1.3"

    def get_cipher_name(self) -> str:
        return self.cipher


def _creator(collector: ProvenanceCollector, host: str, port: int) -> tuple[_RecordingCreator, TLSFacts]:
    facts = TLSFacts()
    crawler: Any = SimpleNamespace(spider=SimpleNamespace(provenance=collector, tls_facts=facts))
    return _RecordingCreator(None, host, port, crawler), facts


def _counting(collector: ProvenanceCollector) -> list[str]:
    """The hosts whose chains the collector validates, in order."""
    calls: list[str] = []
    validate = collector._validate

    def counted(host: str, certs: list[x509.Certificate]) -> tuple[bool, str | None]:
        calls.append(host)
        return validate(host, certs)

    collector._validate = counted  # type: ignore[method-assign]
    return calls


def test_a_handshake_is_validated_once_and_both_records_agree(tmp_path: Path) -> None:
    ca, leaf = _chain("news.test")
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    collector = ProvenanceCollector(str(ca_file))
    calls = _counting(collector)
    creator, facts = _creator(collector, "news.test", 443)
    for _ in range(3):  # Scrapy opens several connections to one origin
        creator._record(_Handshake("TLS_AES_128_GCM_SHA256"), [leaf, ca])  # type: ignore[arg-type]
    assert calls == ["news.test"]
    creator._record(_Handshake("TLS_AES_256_GCM_SHA384"), [leaf, ca])  # type: ignore[arg-type]
    assert calls == ["news.test", "news.test"]  # another handshake: recorded too

    [origin] = collector.origins_for(["https://news.test/"])
    first = origin["tls"][0]
    assert [t["cipher"] for t in origin["tls"]] == ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"]
    record = facts.of({"https://news.test"})["https://news.test"]
    assert record["validated"] is True and first["validated"] is True and record["errors"] == []
    assert record["chain_pem"] == first["chain"] and record["subject"] == "CN=news.test"
    assert record["cipher"] == "TLS_AES_128_GCM_SHA256" and record["issuer"] == "CN=test root"


def test_an_untrusted_chain_is_recorded_with_the_reason(tmp_path: Path) -> None:
    trusted, _ = _chain("elsewhere.test")
    _, leaf = _chain("shop.test")  # issued by another root of the same name
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(trusted.public_bytes(serialization.Encoding.PEM))
    creator, facts = _creator(ProvenanceCollector(str(ca_file)), "shop.test", 8443)
    creator._record(_Handshake("TLS_AES_128_GCM_SHA256"), [leaf])  # type: ignore[arg-type]
    record = facts.of({"https://shop.test:8443"})["https://shop.test:8443"]
    assert record["validated"] is False and record["errors"] and "\n" not in record["errors"][0]


def test_nothing_is_recorded_outside_a_crawl_of_ours() -> None:
    _, leaf = _chain("news.test")
    facts = TLSFacts()
    crawler: Any = SimpleNamespace(spider=SimpleNamespace(tls_facts=facts))  # no provenance collector
    _RecordingCreator(None, "news.test", 443, crawler)._record(
        _Handshake("TLS_AES_128_GCM_SHA256"), [leaf]  # type: ignore[arg-type]
    )
    assert facts.origins == {}
