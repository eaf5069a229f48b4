"""Which pages need a browser: `--browser auto` sends script shells and hosts known to build their
pages in the browser to Chromium, everything else stays on the HTTP crawler."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from lxml import etree, html

from .progress import BROWSER_MODES

__all__ = ["BROWSER_MODES", "DEFAULT_BROWSER_HOSTS", "browser_reason"]


# Hosts whose pages are script shells whatever their HTML says (the list is configurable).
DEFAULT_BROWSER_HOSTS = ("twitter.com", "x.com")

_ENABLE_JS = re.compile(r"(enable|turn on|activate)\s+javascript|javascript\s+(is\s+)?(not available|"
                        r"disabled|required)|requires\s+javascript", re.I)
# Elements a single-page application mounts itself into.
_APP_ROOTS = ("root", "app", "react-root", "__next", "__nuxt", "main-app", "application")
# Below this much visible text (characters, scripts and styles excluded) a page with scripts is a
# shell: an article has thousands, an SPA shell a "Loading..." at most.
_SHELL_TEXT = 200


def _host_listed(url: str, hosts: Iterable[str]) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return any(host == h or host.endswith("." + h) for h in (x.lower().strip() for x in hosts) if h)


def browser_reason(url: str, body: bytes, hosts: Iterable[str] = DEFAULT_BROWSER_HOSTS) -> str | None:
    """Why this HTML page should be rendered in a browser under `auto`, or None to stay on HTTP."""
    if _host_listed(url, hosts):
        return "host builds its pages in the browser"
    try:
        doc = html.document_fromstring(body) if body.strip() else None
    except (etree.ParserError, ValueError):
        return None
    if doc is None:
        return None
    scripts = doc.xpath("//script")
    if not scripts:
        return None  # nothing could build the page: what the server sent is what a reader sees
    for ns in doc.xpath("//noscript"):
        if _ENABLE_JS.search(ns.text_content() or ""):
            return "the page asks for JavaScript (<noscript>)"
    for el in doc.xpath("//*[@id]"):
        if el.get("id") in _APP_ROOTS and not (el.text_content() or "").strip() and len(el) == 0:
            return f"empty application root #{el.get('id')}"
    body_el = doc.find("body")
    if body_el is None:
        return "script shell: no body"
    for el in body_el.xpath(".//script|.//style|.//noscript|.//template"):
        el.drop_tree()
    text = " ".join((body_el.text_content() or "").split())
    if len(text) < _SHELL_TEXT:
        return f"script shell: {len(text)} characters of text"
    return None
