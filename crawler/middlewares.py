"""Downloader middleware that keeps each exchange exactly as it crossed the wire."""

from __future__ import annotations

from datetime import UTC, datetime

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.http import Headers, Response

from .recorder import Exchange

__all__ = ["RAW_META_KEY", "RawExchangeMiddleware"]

RAW_META_KEY = "citevault_exchange"


def _header_pairs(headers: Headers) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key, values in headers.items():
        k = key.decode("latin-1") if isinstance(key, bytes) else str(key)
        for v in values:
            out.append((k, v.decode("latin-1") if isinstance(v, bytes) else str(v)))
    return out


class RawExchangeMiddleware:
    """Placed at 950: its process_request runs after every middleware that sets headers, and its
    process_response sees the response first, before decompression (590) or retries (550).
    The body Scrapy hands over is already de-chunked; Content-Encoding is intact."""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RawExchangeMiddleware:
        return cls()

    def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Response:
        # Through a proxy the peer is the proxy, not the site: WARC-IP-Address would mislead.
        ip = None if request.meta.get("proxy") else response.ip_address
        request.meta[RAW_META_KEY] = Exchange(
            url=request.url,
            method=request.method,
            request_headers=_header_pairs(request.headers),
            status=response.status,
            response_headers=_header_pairs(response.headers),
            body=response.body,
            protocol=response.protocol or "HTTP/1.1",
            ip_address=str(ip) if ip is not None else None,
            fetched_at=datetime.now(UTC),
        )
        return response
