"""Which addresses citevault may fetch: not loopback, private, link-local or cloud-metadata ones
unless the operator allows private networks. Pure functions, shared by the crawler and the link
checker (no Scrapy import)."""

from __future__ import annotations

import ipaddress

__all__ = ["blocked_reason"]

_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}


def blocked_reason(host: str) -> str | None:
    """Why `host` (an IP literal) may not be fetched, or None when it may."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
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
