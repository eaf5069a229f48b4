"""WACZ signing per the WACZ Signing and Verification spec (specs.webrecorder.net/wacz-auth/0.1.0):
anonymous mode with a local ECDSA P-256 key (created in the home directory on first use), and the
check of an anonymous or domain-mode `signedData` block. Domain mode signing goes through an
authsign-compatible URL, which py-wacz itself calls (`wacz create --signing-url`)."""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from citevault.storage.errors import StorageError

__all__ = ["SigningKey", "check_signed_data", "load_signing_key", "sign_anonymous"]

_SOFTWARE = "citevault"


@dataclass(frozen=True)
class SigningKey:
    """The local key and how others recognise it: its public key as the spec writes it (base64
    DER SubjectPublicKeyInfo) and that key's SHA-256 fingerprint."""

    private: ec.EllipticCurvePrivateKey
    path: Path

    @property
    def public_der(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def public_b64(self) -> str:
        return base64.b64encode(self.public_der).decode("ascii")

    @property
    def public_pem(self) -> str:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_der)


def fingerprint(public_der: bytes) -> str:
    return "sha256:" + hashlib.sha256(public_der).hexdigest()


def load_signing_key(path: Path, *, create: bool = True) -> SigningKey:
    """The key at `path` (PKCS#8 PEM), created (mode 0600) when missing and `create` is set."""
    path = Path(path)
    if not path.exists():
        if not create:
            raise StorageError(f"no signing key at {path} (one is made by the first signed export)")
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
        except FileExistsError:
            pass  # made by another process meanwhile: use that one
        except OSError as exc:
            raise StorageError(f"cannot create the signing key {path}: {exc.strerror}") from exc
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise StorageError(f"cannot read the signing key {path}: {exc}") from exc
    if not isinstance(loaded, ec.EllipticCurvePrivateKey) or loaded.curve.name != "secp256r1":
        raise StorageError(f"{path} is not an ECDSA P-256 key")
    return SigningKey(loaded, path)


def sign_anonymous(digest: str, created: str, key: SigningKey) -> dict[str, Any]:
    """The anonymous `signedData` for a datapackage.json hash ("sha256:HEX"): an ECDSA P-256 /
    SHA-256 signature of the hash string, raw r||s (as WebCrypto and ArchiveWeb.page make it).
    `created` must be the datapackage's own (py-wacz validate compares them)."""
    der = key.private.sign(digest.encode("utf-8"), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return {
        "hash": digest,
        "created": created,
        "software": _SOFTWARE,
        "version": metadata.version("citevault"),
        "signature": base64.b64encode(raw).decode("ascii"),
        "publicKey": key.public_b64,
    }


def _verify_raw(public: ec.EllipticCurvePublicKey, signature: bytes, data: bytes) -> None:
    if len(signature) == 64:  # r||s
        signature = encode_dss_signature(int.from_bytes(signature[:32], "big"),
                                         int.from_bytes(signature[32:], "big"))
    public.verify(signature, data, ec.ECDSA(hashes.SHA256()))


def check_signed_data(signed: dict[str, Any], digest: str) -> str:
    """Check a `signedData` block against the datapackage.json hash; returns who signed (for
    the report) or raises ValueError saying what failed. Domain mode: the signature by the
    domain certificate's key, the domain in the certificate; the chain's trust and the TSA's
    timeSignature are outside this offline check (reported as such)."""
    if signed.get("hash") != digest:
        raise ValueError(f"the signature is over {signed.get('hash')}, not this datapackage.json ({digest})")
    try:
        signature = base64.b64decode(str(signed.get("signature", "")), validate=True)
    except ValueError as exc:
        raise ValueError("the signature is not base64") from exc
    data = digest.encode("utf-8")
    if signed.get("publicKey"):
        try:
            der = base64.b64decode(str(signed["publicKey"]), validate=True)
            public = serialization.load_der_public_key(der)
        except ValueError as exc:
            raise ValueError(f"the public key cannot be read: {exc}") from exc
        if not isinstance(public, ec.EllipticCurvePublicKey):
            raise ValueError("the public key is not an ECDSA key")
        try:
            _verify_raw(public, signature, data)
        except InvalidSignature as exc:
            raise ValueError("the signature does not verify with the package's public key") from exc
        return f"anonymous key {fingerprint(der)}"
    if signed.get("domainCert"):
        try:
            chain = x509.load_pem_x509_certificates(str(signed["domainCert"]).encode())
        except ValueError as exc:
            raise ValueError(f"the domain certificate cannot be read: {exc}") from exc
        public = chain[0].public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey):
            raise ValueError("the domain certificate's key is not an ECDSA key")
        try:
            _verify_raw(public, signature, data)
        except InvalidSignature as exc:
            raise ValueError("the signature does not verify with the domain certificate") from exc
        domain = str(signed.get("domain", ""))
        try:
            names = chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName)
            dns = names.value.get_values_for_type(x509.DNSName)
        except x509.ExtensionNotFound:
            dns = []
        if domain not in dns:
            raise ValueError(f"the domain certificate is not for {domain!r}")
        return f"domain {domain} (certificate chain trust not checked offline)"
    raise ValueError("the signedData block has neither a publicKey nor a domainCert")

