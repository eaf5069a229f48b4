"""The Jinja2 environment of the web interface: templates from web/templates/, autoescaped, the
few filters and names they share (dates, badges, shortened URLs), and the headers of every page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, StrictUndefined

from .deps import get_root, session_hash

__all__ = ["CSP", "OUTCOMES", "STATES", "make_templates", "page_headers", "render_page"]

# Pages load only their own stylesheet and script; no inline code, no framing, forms post only here.
CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
REFRESH_SECONDS = 3
_URL_SHOWN = 60  # characters of a URL shown in lists before the middle is elided

STATES = frozenset({"queued", "running", "done", "partial", "failed"})
OUTCOMES = frozenset({"alive", "redirected", "drifted", "gone", "error"})


def when_ts(ts: str | None) -> str:
    """YYYYMMDDhhmmss as `YYYY-MM-DD hh:mm:ss`."""
    if not ts or len(ts) != 14:
        return ts or "—"
    return f"{ts[0:4]}-{ts[4:6]}-{ts[6:8]} {ts[8:10]}:{ts[10:12]}:{ts[12:14]}"


def when_iso(iso: str | None) -> str:
    """An ISO timestamp from the JSON views as `YYYY-MM-DD hh:mm:ss`."""
    return iso.replace("T", " ").removesuffix("Z") if iso else "—"


def is_web(url: str) -> bool:
    """Only http(s) URLs become links to the live web; anything else is shown as text."""
    try:
        return urlsplit(url).scheme.lower() in ("http", "https")
    except ValueError:
        return False


def middle(url: str | None, keep: int = _URL_SHOWN) -> str:
    """A long URL with its middle elided, so both the host and the last path segment stay
    readable; the full URL goes into the link and its title."""
    if not url or len(url) <= keep:
        return url or ""
    head = keep * 3 // 5
    return url[:head] + "…" + url[-(keep - head - 1):]


def page_headers(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The security headers of every interface page (and its error pages)."""
    return {**_HEADERS, **(extra or {})}


def render_page(request: Request, template: str, context: Mapping[str, Any], *, status: int = 200,
                refresh: bool = False, query: str = "") -> HTMLResponse:
    """A page of the interface from its template, with the values every page needs."""
    templates: Jinja2Templates = request.app.state.templates
    full = {"root": get_root(request), "refresh": REFRESH_SECONDS if refresh else 0, "query": query,
            "signed_in": session_hash(request) is not None, **context}
    return templates.TemplateResponse(request, template, full, status_code=status, headers=page_headers())


def make_templates() -> Jinja2Templates:
    env = Environment(
        loader=PackageLoader("citevault.web", "templates"),
        autoescape=True,  # every value is escaped unless a template marks it safe
        undefined=StrictUndefined,  # a misspelt name is an error, not an empty string
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when_ts=when_ts, when_iso=when_iso, is_web=is_web, middle=middle)
    env.globals.update(STATES=STATES, OUTCOMES=OUTCOMES)
    return Jinja2Templates(env=env)
