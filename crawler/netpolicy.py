"""Which addresses citevault may fetch: only globally routable ones, unless the operator allows
private networks. Pure functions, shared by the crawler and the link checker (no Scrapy import)."""

from __future__ import annotations

import ipaddress
import re
import socket

__all__ = ["as_ip", "blocked_reason", "host_refusal", "resolved_refusal"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_HINT = "set CITEVAULT_ALLOW_PRIVATE_NETWORKS=1 to allow private networks"

# Cloud metadata services: AWS/GCP/Azure/OpenStack, AWS over IPv6, Alibaba Cloud.
_METADATA = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
    ipaddress.ip_address("100.100.100.200"),
}

# Ranges Python's `is_global` lets through that are not the public internet: IETF protocol
# assignments as a whole (192.0.0.9/.10 are flagged global individually), deprecated site-local
# IPv6 and the local-use NAT64 prefix of RFC 8215.
_NOT_PUBLIC = [
    ipaddress.ip_network("192.0.0.0/24"),
    ipaddress.ip_network("fec0::/10"),
    ipaddress.ip_network("64:ff9b:1::/48"),
]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d

# The IPv4 forms inet_aton accepts and browsers and proxies still resolve: 127.1, 2130706433,
# 0x7f.0.0.1, 0177.0.0.1 all mean 127.0.0.1.
_LEGACY_IPV4 = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}\.?$", re.I)
_LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


def as_ip(host: str) -> IPAddress | None:
    """The address a host names literally, in any notation, or None for a host name."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])  # a zone index (fe80::1%eth0) too
    except ValueError:
        pass
    if _LEGACY_IPV4.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host.rstrip(".")))
        except OSError:
            return None
    return None


def _embedded(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries and that a translator or relay would reach."""
    out: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        out.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        out.append(ip.sixtofour)
    if ip.teredo is not None:
        out.extend(ip.teredo)  # (server, client)
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):  # :: and ::1 are themselves
        out.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return out


def _kind(ip: IPAddress) -> str | None:
    """What kind of non-public address `ip` is, or None for a globally routable one."""
    if ip in _METADATA:
        return "a cloud metadata address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified:
        return "an unspecified address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.IPv4Network("100.64.0.0/10"):
        return "a carrier-grade NAT address"
    if not ip.is_global or any(ip in net for net in _NOT_PUBLIC if net.version == ip.version):
        return "a private or reserved address"
    return None


def blocked_reason(host: str) -> str | None:
    """Why `host` (an IP literal, in any notation) may not be fetched, or None when it may
    (host names are checked by `blocked_name_reason` and again once resolved)."""
    ip = as_ip(host)
    if ip is None:
        return None
    kind = None
    if isinstance(ip, ipaddress.IPv6Address):
        # An embedded IPv4 address is checked first: 2002:7f00:1:: reaches 127.0.0.1 through a
        # 6to4 relay even though the IPv6 address itself looks global.
        for inner in _embedded(ip):
            inner_kind = _kind(inner)
            if inner_kind is not None:
                kind = f"{inner_kind} ({inner}) embedded in an IPv6 address"
                break
    kind = kind or _kind(ip)
    if kind is None:
        return None
    return f"refused: {host} is {kind} ({_HINT})"


def _name_refusal(host: str) -> str | None:
    """Why a host name may not be fetched by name alone (loopback names, with or without the
    trailing dot of a fully qualified name), or None."""
    name = host.lower().rstrip(".")
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        return f"refused: {host} is a loopback name ({_HINT})"
    return None


def host_refusal(host: str) -> str | None:
    """Why a URL's host may not be fetched, before any resolving: an address that is not
    globally routable or a loopback name; None when it may (or when only resolving can tell)."""
    return blocked_reason(host) or _name_refusal(host)


def resolved_refusal(name: str, ip: str) -> str | None:
    """Why `name`, resolved to `ip`, may not be fetched, or None when it may."""
    reason = blocked_reason(ip)
    return reason.replace(f"{ip} is", f"{name} resolves to {ip},", 1) if reason else None
