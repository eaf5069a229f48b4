"""Refusing fetches of loopback, private, link-local and metadata addresses (SSRF guard).

Two places check: a downloader middleware for targets given as IP literals (also through a proxy),
and the DNS resolver for names resolved by us (not through a proxy, which resolves names itself).
An operator-configured proxy is trusted as a hop.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.resolver import CachingThreadedResolver
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import defer

from .netpolicy import as_ip, blocked_reason, host_refusal, resolved_refusal

__all__ = ["BlockedAddress", "PrivateNetworkMiddleware", "GuardedResolver", "blocked_reason"]

class BlockedAddress(IgnoreRequest):
    """A fetch refused because its address is not on the public internet."""


def _proxy_hosts() -> set[str]:
    hosts = set()
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        if os.environ.get(var):
            val = os.environ[var]
            host = urlsplit(val if "://" in val else "http://" + val).hostname
            if host:
                hosts.add(host)
    return hosts


class PrivateNetworkMiddleware:
    """Downloader middleware: refuse IP-literal targets on private networks, and names that
    resolve to them when we resolve names ourselves (no proxy), with a clear reason. The resolver
    checks again at connect time (a name may resolve differently the second time)."""

    def __init__(self, allow: bool) -> None:
        if allow:
            raise NotConfigured

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PrivateNetworkMiddleware:
        return cls(crawler.settings.getbool("CITEVAULT_ALLOW_PRIVATE_NETWORKS"))

    async def process_request(self, request: Request, spider: Spider | None = None) -> None:
        host = urlsplit(request.url).hostname or ""
        reason = host_refusal(host)
        if reason:
            raise BlockedAddress(reason)
        if request.meta.get("proxy") or as_ip(host) is not None:
            return  # the proxy resolves names; literals were checked above
        from twisted.internet import reactor

        try:
            # The GuardedResolver refuses private answers (Twisted types `name` oddly: ignore).
            await maybe_deferred_to_future(reactor.resolve(host))  # type: ignore[arg-type]
        except BlockedAddress:
            raise
        except Exception:
            return  # a name that does not resolve: the download reports it as a DNS failure


class GuardedResolver(CachingThreadedResolver):
    """Scrapy's caching resolver, refusing names that resolve to non-public addresses."""

    def __init__(self, reactor: Any, cache_size: int, timeout: float, allow: bool) -> None:
        super().__init__(reactor, cache_size, timeout)
        self.allow = allow
        self.trusted = _proxy_hosts()

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor: Any) -> GuardedResolver:
        s = crawler.settings
        size = s.getint("DNSCACHE_SIZE") if s.getbool("DNSCACHE_ENABLED") else 0
        return cls(reactor, size, s.getfloat("DNS_TIMEOUT"), s.getbool("CITEVAULT_ALLOW_PRIVATE_NETWORKS"))

    def getHostByName(self, name: str, timeout: Any = ()) -> defer.Deferred[str]:
        d = super().getHostByName(name, timeout)
        if self.allow or name in self.trusted:
            return d

        def check(ip: str) -> str:
            reason = resolved_refusal(name, ip)
            if reason:
                raise BlockedAddress(reason)
            return ip

        return d.addCallback(check)
