"""Which addresses citevault may fetch: not loopback, private, link-local or cloud-metadata ones
unless the operator allows private networks. Pure functions, shared by the crawler and the link
checker (no Scrapy import)."""

from __future__ import annotations

import ipaddress
import re
import socket

__all__ = ["as_ip", "blocked_reason", "host_refusal", "resolved_refusal"]

_LOOPBACK_NAMES = ("localhost", "localhost.localdomain")

_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}


# The IPv4 forms inet_aton accepts and browsers and proxies still resolve: 127.1, 2130706433,
# 0x7f.0.0.1, 0177.0.0.1 all mean 127.0.0.1.
_LEGACY_IPV4 = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}\.?$", re.I)


def as_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host names literally, in any notation, or None for a host name."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _LEGACY_IPV4.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host.rstrip(".")))
        except OSError:
            return None
    return None


def blocked_reason(host: str) -> str | None:
    """Why `host` (an IP literal, in any notation) may not be fetched, or None when it may."""
    ip = as_ip(host)
    if ip is None:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip in _METADATA:
        kind = "a cloud metadata address"
    elif ip.is_loopback:
        kind = "a loopback address"
    elif ip.is_link_local:
        kind = "a link-local address"
    elif ip.is_private or ip.is_reserved or ip.is_multicast or ip.is_unspecified:
        kind = "a private or reserved address"
    else:
        return None
    return (
        f"refused: {host} is {kind} (set CITEVAULT_ALLOW_PRIVATE_NETWORKS=1 to allow private networks)"
    )


def host_refusal(host: str) -> str | None:
    """Why a URL's host may not be fetched, before any resolving: an IP literal off the public
    internet or a loopback name; None when it may (or when only resolving can tell)."""
    reason = blocked_reason(host)
    name = host.lower()
    if reason is None and (name in _LOOPBACK_NAMES or name.endswith(".localhost")):
        reason = f"refused: {host} is a loopback name (set CITEVAULT_ALLOW_PRIVATE_NETWORKS=1 to allow)"
    return reason


def resolved_refusal(name: str, ip: str) -> str | None:
    """Why `name`, resolved to `ip`, may not be fetched, or None when it may."""
    reason = blocked_reason(ip)
    return reason.replace(f"{ip} is", f"{name} resolves to {ip},", 1) if reason else None
