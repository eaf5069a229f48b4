"""Offline fake web for tests: a threaded HTTP origin + forward proxy (CONNECT/TLS) serving canned sites.

server.py answers (origin, proxy, CONNECT), tls.py issues certificates, routes.py and resources.py
say what a URL answers, news.py registers the news site kept as files under sites/news/.
"""

from __future__ import annotations

from .news import NewsSite, build_news_site
from .resources import BrokenChunked, BrokenDownload, Delay, Drop, Echo, Raw, Resource, Status
from .routes import FakeRequest, Route, normalize_url
from .web import FakeWeb

__all__ = [
    "BrokenChunked",
    "BrokenDownload",
    "Delay",
    "Drop",
    "Echo",
    "FakeRequest",
    "FakeWeb",
    "NewsSite",
    "Raw",
    "Resource",
    "Route",
    "Status",
    "build_news_site",
    "normalize_url",
]
