"""WACZ signatures: the local key (made once, private to its owner), anonymous signatures as the spec
and ArchiveWeb.page make them (raw r||s over the hash string), domain-mode checks."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from citevault.signing import check_signed_data, load_signing_key, sign_anonymous
from citevault.storage.errors import StorageError

HASH = "sha256:" + "ab" * 32


def test_key_is_made_once_and_kept_private(tmp_path: Path) -> None:
    key = load_signing_key(tmp_path / "k" / "signing-key.pem")
    again = load_signing_key(tmp_path / "k" / "signing-key.pem")
    assert key.public_b64 == again.public_b64 and key.fingerprint.startswith("sha256:")
    assert (tmp_path / "k" / "signing-key.pem").stat().st_mode & 0o077 == 0
    with pytest.raises(StorageError):
        load_signing_key(tmp_path / "none.pem", create=False)
    (tmp_path / "rsa.pem").write_text("junk")
    with pytest.raises(StorageError):
        load_signing_key(tmp_path / "rsa.pem")


def test_anonymous_signature_round_trip(tmp_path: Path) -> None:
    key = load_signing_key(tmp_path / "signing-key.pem")
    signed = sign_anonymous(HASH, "2026-12-01T00:00:00Z", key)
    assert len(base64.b64decode(signed["signature"])) == 64 and signed["created"] == "2026-12-01T00:00:00Z"
    assert check_signed_data(signed, HASH) == f"anonymous key {key.fingerprint}"
    with pytest.raises(ValueError, match="not this datapackage.json"):
        check_signed_data(signed, "sha256:" + "cd" * 32)
    other = load_signing_key(tmp_path / "other.pem")
    with pytest.raises(ValueError, match="does not verify"):
        check_signed_data({**signed, "publicKey": other.public_b64}, HASH)
    with pytest.raises(ValueError, match="neither a publicKey nor a domainCert"):
        check_signed_data({"hash": HASH, "signature": signed["signature"]}, HASH)


def test_der_encoded_signatures_are_accepted_too(tmp_path: Path) -> None:
    key = load_signing_key(tmp_path / "signing-key.pem")
    der = key.private.sign(HASH.encode(), ec.ECDSA(hashes.SHA256()))
    signed = {"hash": HASH, "signature": base64.b64encode(der).decode(), "publicKey": key.public_b64}
    assert check_signed_data(signed, HASH).startswith("anonymous key")


def _domain_cert(domain: str) -> tuple[ec.EllipticCurvePrivateKey, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert.public_bytes(serialization.Encoding.PEM).decode()


def test_domain_signature_checks_key_and_domain() -> None:
    key, pem = _domain_cert("signer.example")
    r, s = decode_dss_signature(key.sign(HASH.encode(), ec.ECDSA(hashes.SHA256())))
    sig = base64.b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).decode()
    signed = {"hash": HASH, "signature": sig, "domain": "signer.example", "domainCert": pem}
    assert check_signed_data(signed, HASH).startswith("domain signer.example")
    with pytest.raises(ValueError, match="not for 'other.example'"):
        check_signed_data({**signed, "domain": "other.example"}, HASH)
