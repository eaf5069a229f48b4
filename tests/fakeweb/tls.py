"""TLS for the fake web's CONNECT tunnels: a throw-away CA issuing a leaf certificate per SNI name."""

from __future__ import annotations

import datetime as _dt
import ipaddress
import itertools
import ssl
import threading
from pathlib import Path
from typing import Any

__all__ = ["TLS"]


class TLS:
    """A throw-away CA (files in a temp dir) issuing leaf certs per SNI host name; fallback leaf is
    CN=fakeweb with SAN DNS:*, localhost, 127.0.0.1. Clients may verify against ``ca_file``."""

    def __init__(self, directory: Path) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        self._dir = directory
        self._lock = threading.Lock()
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._serial = itertools.count()
        self._ca_key = ec.generate_private_key(ec.SECP256R1())
        self._leaf_key = ec.generate_private_key(ec.SECP256R1())
        self.ca_cert = self._issue("fakeweb CA", None, ca=True)
        self.ca_file = directory / "fakeweb-ca.pem"
        self.ca_file.write_bytes(self.ca_cert.public_bytes(serialization.Encoding.PEM))
        self._key_file = directory / "fakeweb-key.pem"
        self._key_file.write_bytes(
            self._leaf_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self.context = self._context_for(None)
        self.context.sni_callback = self._on_sni

    def _issue(self, cn: str, host: str | None, ca: bool = False) -> Any:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        key = self._ca_key if ca else self._leaf_key
        now = _dt.datetime.now(_dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fakeweb CA")]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _dt.timedelta(days=1))
            .not_valid_after(now + _dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._ca_key.public_key()), critical=False
            )
        )
        if ca:
            usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
            builder = builder.add_extension(usage, critical=True)
        else:
            names: list[x509.GeneralName]
            if host is None:
                names = [
                    x509.DNSName("*"),
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            else:
                names = [x509.DNSName(host)]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
            usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
            builder = builder.add_extension(usage, critical=True).add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
        return builder.sign(self._ca_key, hashes.SHA256())

    def _context_for(self, host: str | None) -> ssl.SSLContext:
        from cryptography.hazmat.primitives import serialization

        cert = self._issue(host or "fakeweb", host)
        cert_file = self._dir / f"leaf-{next(self._serial)}.pem"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert_file, self._key_file)
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    def _on_sni(
        self, sock: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _: ssl.SSLContext
    ) -> None:
        if not server_name:
            return
        try:
            ipaddress.ip_address(server_name)
            return
        except ValueError:
            pass
        host = server_name.lower()
        with self._lock:
            ctx = self._contexts.get(host)
            if ctx is None:
                try:
                    ctx = self._contexts[host] = self._context_for(host)
                except ValueError:  # not a name cryptography accepts: keep the fallback cert
                    return
        sock.context = ctx
