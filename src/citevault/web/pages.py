"""The Jinja2 environment of the web interface: templates from web/templates/, autoescaped, and
the few filters and names they share (dates, state and health badges)."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, StrictUndefined

__all__ = ["STATES", "OUTCOMES", "make_templates"]

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


def make_templates() -> Jinja2Templates:
    env = Environment(
        loader=PackageLoader("citevault.web", "templates"),
        autoescape=True,  # every value is escaped unless a template marks it safe
        undefined=StrictUndefined,  # a misspelt name is an error, not an empty string
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when_ts=when_ts, when_iso=when_iso, is_web=is_web)
    env.globals.update(STATES=STATES, OUTCOMES=OUTCOMES)
    return Jinja2Templates(env=env)
