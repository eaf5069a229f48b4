"""What the fake web answers with: the request log entry, the route for one URL, URL keys."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit

if TYPE_CHECKING:
    from .resources import Resource

__all__ = ["Body", "BodyFactory", "FakeRequest", "HeaderSpec", "Headers", "Route", "normalize_url"]

Body = bytes | str
BodyFactory = Callable[["FakeRequest"], "Body | None"]
HeaderSpec = Mapping[str, str] | Iterable[tuple[str, str]] | None


class Headers(dict[str, str]):
    """Request headers with lower-case keys and case-insensitive lookup."""

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key.lower() if isinstance(key, str) else key)

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)


class FakeRequest(NamedTuple):
    """One logged request: method, absolute URL (or ``host:port`` for CONNECT), headers."""

    method: str
    url: str
    headers: Headers


@dataclass
class Route:
    """A canned response for one URL; a :class:`Resource` body writes its own response."""

    url: str
    body: bytes | BodyFactory | Resource = b""
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str | None = "text/html; charset=utf-8"
    gzip: bool = False
    chunked: bool = False
    chunks: int = 4
    delay: float = 0.0
    chunk_delay: float = 0.0
    redirect: str | None = None
    drop: bool = False
    match_any_query: bool = False

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


def split_url(url: str) -> tuple[str, str, str, str]:
    """(scheme, netloc, path, query) with lower-case scheme/host, no default port, path at least '/'."""
    parts = urlsplit(url)
    scheme = (parts.scheme or "http").lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    return scheme, netloc, parts.path or "/", parts.query


def normalize_url(url: str) -> str:
    """The key FakeWeb uses for ``url``: lower-case scheme and host, no default port or fragment."""
    scheme, netloc, path, query = split_url(url)
    return f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")


def canonical_query(query: str) -> str:
    """The query with its parameters sorted, so reordered parameters find the same route."""
    return urlencode(sorted(parse_qsl(query, keep_blank_values=True)))
