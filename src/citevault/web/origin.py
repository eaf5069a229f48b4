"""Writes only from citevault's own pages or from clients that are not browsers (CSRF): replayed
archived pages run on this host with the opaque origin "null" (the replay CSP's sandbox), and
without this check their scripts could act on the API, e.g. POST /api/sources/{id}/check, on an
archive that has no tokens yet."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request

from citevault.storage.errors import Forbidden

from .deps import get_settings

__all__ = ["refuse_cross_site_writes"]

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def refuse_cross_site_writes(request: Request) -> None:
    """App-wide dependency. A browser says where a request comes from: Sec-Fetch-Site first (it
    survives proxies that rewrite the Host), else Origin, which must be this server's or the
    configured public URL's ("null", a sandboxed replay, never is). API clients send neither."""
    if request.method in _SAFE_METHODS:
        return
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        if site in ("same-origin", "none"):
            return
        raise Forbidden(f"a {site} write is refused: use citevault's own pages or an API client")
    origin = request.headers.get("origin")
    if origin is None:
        return
    own = {_origin_of(str(request.url))}
    public = get_settings(request).public_url
    if public:
        own.add(_origin_of(public))
    if origin not in own:
        raise Forbidden(f"a write from another origin ({origin}) is refused")
