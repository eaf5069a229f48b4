"""Checking and normalising the URLs users submit."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from citevault.storage.errors import UnsupportedURL

__all__ = ["normalize_url"]


def normalize_url(raw: str) -> str:
    """A submitted URL made canonical enough to fetch (scheme and host lower-cased, fragment
    dropped, path at least "/"), or UnsupportedURL with a one-line reason."""
    text = (raw or "").strip()
    if not text:
        raise UnsupportedURL("empty URL")
    if any(c.isspace() for c in text):
        raise UnsupportedURL(f"not a URL (contains whitespace): {text!r}")
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        raise UnsupportedURL(f"malformed URL {text!r}: {exc}") from exc
    scheme = parts.scheme.lower()
    if not scheme:
        raise UnsupportedURL(f"not a URL (no scheme; did you mean https://{text}?): {text!r}")
    if scheme not in ("http", "https"):
        raise UnsupportedURL(f"unsupported URL scheme {scheme}: (only http and https): {text!r}")
    try:
        host = parts.hostname
        port = parts.port
    except ValueError as exc:
        raise UnsupportedURL(f"malformed URL {text!r}: {exc}") from exc
    if not host or "." not in host and host != "localhost" and ":" not in host:
        raise UnsupportedURL(f"not a URL (no valid host name): {text!r}")
    netloc = host if ":" not in host else f"[{host}]"
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        netloc += f":{port}"
    if parts.username or parts.password:
        raise UnsupportedURL(f"URLs with credentials are not archived: {text!r}")
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
