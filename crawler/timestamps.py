"""RFC 3161 trusted timestamps through rfc3161-client: ask a Time Stamping Authority to stamp a
SHA-256 digest (the request is checked against its reply), and verify a stored reply offline
against the TSA certificates a verifier trusts."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from cryptography import x509
from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimestampRequestBuilder,
    TimeStampResponse,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

__all__ = [
    "TOKEN_CONTENT_TYPE",
    "StampedToken",
    "TimestampError",
    "load_tsa_roots",
    "parse_tsa_urls",
    "read_token",
    "request_token",
    "verify_token",
]

TOKEN_CONTENT_TYPE = "application/timestamp-reply"


class TimestampError(Exception):
    """A TSA could not be reached, refused, or answered something that does not stamp our digest."""


@dataclass(frozen=True)
class StampedToken:
    """What a timestamp reply says: the TSA's time, its name and signing certificate's subject,
    the stamped SHA-256 (hex); `reply` is the DER TimeStampResp as `openssl ts -verify -in` reads it."""

    reply: bytes
    gen_time: datetime  # UTC, aware
    digest_hex: str
    tsa_name: str
    serial: int


def parse_tsa_urls(value: str | None) -> list[str]:
    return [u.strip() for u in (value or "").split(",") if u.strip()]


def _signer_subject(resp: TimeStampResponse) -> str:
    infos = list(resp.signed_data.signer_infos)
    for der in resp.signed_data.certificates:
        cert = x509.load_der_x509_certificate(der)
        if infos and cert.issuer == infos[0].issuer and cert.serial_number == infos[0].serial_number:
            return cert.subject.rfc4514_string()
    return infos[0].issuer.rfc4514_string() + " (issuer)" if infos else "unknown TSA"


def read_token(reply: bytes) -> StampedToken:
    """Decode a stored reply (TimestampError when it is not a granted RFC 3161 reply)."""
    try:
        resp = decode_timestamp_response(reply)
        if PKIStatus(resp.status) not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
            raise TimestampError(f"the TSA refused: status {resp.status} {' '.join(resp.status_string)}")
        info = resp.tst_info
        gen = info.gen_time
        name = _signer_subject(resp)
    except TimestampError:
        raise
    except Exception as exc:  # the Rust parser raises ValueError and friends on bad DER
        raise TimestampError(f"not an RFC 3161 timestamp reply ({exc})") from exc
    return StampedToken(
        reply=reply,
        gen_time=gen if gen.tzinfo else gen.replace(tzinfo=UTC),
        digest_hex=info.message_imprint.message.hex(),
        tsa_name=name,
        serial=info.serial_number,
    )


def request_token(url: str, data: bytes, *, timeout: float = 20.0) -> StampedToken:
    """Ask the TSA at `url` to stamp the SHA-256 of `data`; the reply must be granted, carry our
    nonce and stamp exactly that digest (its signature is checked offline by `verify_token`)."""
    request = TimestampRequestBuilder().data(data).hash_algorithm(HashAlgorithm.SHA256).build()
    try:
        answer = httpx.post(
            url, content=request.as_bytes(), timeout=timeout,
            headers={"Content-Type": "application/timestamp-query", "Accept": TOKEN_CONTENT_TYPE},
        )
    except httpx.HTTPError as exc:
        raise TimestampError(f"{url}: {type(exc).__name__}: {exc}") from exc
    if answer.status_code != 200:
        raise TimestampError(f"{url}: HTTP {answer.status_code}")
    token = read_token(answer.content)
    resp = decode_timestamp_response(answer.content)
    if request.nonce is not None and resp.tst_info.nonce != request.nonce:
        raise TimestampError(f"{url}: the reply does not carry our nonce")
    if token.digest_hex != hashlib.sha256(data).hexdigest():
        raise TimestampError(f"{url}: the reply stamps another digest")
    return token


def load_tsa_roots(path: Path) -> list[x509.Certificate]:
    """Trust anchors for timestamps: the PEM certificates in a file (TimestampError if none)."""
    try:
        certs = x509.load_pem_x509_certificates(Path(path).read_bytes())
    except OSError as exc:
        raise TimestampError(f"cannot read {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise TimestampError(f"{path} holds no PEM certificate ({exc})") from exc
    return certs


def verify_token(reply: bytes, digest_hex: str, roots: list[x509.Certificate]) -> StampedToken:
    """Check a stored reply offline: it stamps `digest_hex` (SHA-256), its signature verifies, and
    its signing certificate (critical timeStamping EKU) chains to one of `roots`. Raises
    TimestampError saying what failed."""
    token = read_token(reply)
    if token.digest_hex != digest_hex:
        raise TimestampError(f"the token stamps {token.digest_hex}, not {digest_hex}")
    if not roots:
        raise TimestampError("no TSA certificate to check the token against (give --tsa-ca FILE)")
    resp = decode_timestamp_response(reply)
    builder = VerifierBuilder()
    for root in roots:
        builder = builder.add_root_certificate(root)
    try:
        builder.build().verify(resp, bytes.fromhex(digest_hex))
    except VerificationError as exc:
        why = str(exc).split(": ErrorStack")[0]  # OpenSSL's error stack adds nothing readable
        raise TimestampError(f"the token's signature does not verify: {why}") from exc
    return token
