"""Which pages need a browser: `--browser auto` sends script shells and hosts known to build their
pages in the browser to Chromium, everything else stays on the HTTP crawler."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from lxml import etree, html

from .linkstream import parse_streamed
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
# Above this many bytes the page is read as a stream (`_Shell`), never as a tree: the tree of a
# 68 MB page of a million links took 600 MB in the crawl process (benchmarks/history/2026-12-07-and-before.md,
# p-perf3, item 5).
_TREE_MAX = 1_000_000
_HIDDEN = {"script", "style", "noscript", "template"}


def _host_listed(url: str, hosts: Iterable[str]) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return any(host == h or host.endswith("." + h) for h in (x.lower().strip() for x in hosts) if h)


def browser_reason(url: str, body: bytes, hosts: Iterable[str] = DEFAULT_BROWSER_HOSTS) -> str | None:
    """Why this HTML page should be rendered in a browser under `auto`, or None to stay on HTTP."""
    if _host_listed(url, hosts):
        return "host builds its pages in the browser"
    if len(body) > _TREE_MAX:
        return _streamed_reason(body)
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
    chars = _visible_chars(body_el.text_content() or "")
    if chars < _SHELL_TEXT:
        return f"script shell: {chars} characters of text"
    return None


_WORD = re.compile(r"\S+")


def _visible_chars(text: str) -> int:
    """len(" ".join(text.split())), counted only up to `_SHELL_TEXT`: an article's body is tens
    of KB, and splitting and joining all of it was most of `browser_reason`'s time."""
    n = -1
    for word in _WORD.finditer(text):
        n += word.end() - word.start() + 1
        if n >= _SHELL_TEXT:
            break
    return max(n, 0)


class _Shell:
    """A parser target gathering, in one pass and without a tree, what `browser_reason` looks at:
    scripts, what <noscript> says, empty application roots, and the body's visible text (counted
    up to `_SHELL_TEXT`)."""

    def __init__(self) -> None:
        self.scripts = False
        self.noscript_js = False
        self.empty_root: str | None = None
        self.body = False
        self.text = 0
        self.hidden = 0  # depth inside script, style, noscript, template
        self.noscript: list[str] | None = None
        self.roots: list[list[object]] = []  # open application roots: [id, depth, still empty]
        self.depth = 0

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        for root in self.roots:
            root[2] = False  # a child element
        self.depth += 1
        self.scripts = self.scripts or tag == "script"
        self.body = self.body or tag == "body"
        if tag == "noscript" and self.noscript is None:
            self.noscript = []
        if tag in _HIDDEN:
            self.hidden += 1
        if attrib.get("id") in _APP_ROOTS:
            self.roots.append([attrib["id"], self.depth, True])

    def end(self, tag: str) -> None:
        if self.roots and self.roots[-1][1] == self.depth:
            ident, _, empty = self.roots.pop()
            if empty and self.empty_root is None:
                self.empty_root = str(ident)
        self.depth -= 1
        if tag in _HIDDEN and self.hidden:
            self.hidden -= 1
        if tag == "noscript" and self.noscript is not None:
            self.noscript_js = self.noscript_js or bool(_ENABLE_JS.search(" ".join(self.noscript)))
            self.noscript = None

    def data(self, text: str) -> None:
        if not text.strip():
            return
        for root in self.roots:
            root[2] = False
        if self.noscript is not None:
            self.noscript.append(text)
        if self.body and not self.hidden and self.text < _SHELL_TEXT:
            self.text += _visible_chars(text) + 1

    def close(self) -> None:
        return None


def _streamed_reason(body: bytes) -> str | None:
    """`browser_reason` of a page too big for a tree, from one streaming pass."""
    shell = _Shell()
    parse_streamed(body, shell)
    if not shell.scripts:
        return None
    if shell.noscript_js:
        return "the page asks for JavaScript (<noscript>)"
    if shell.empty_root is not None:
        return f"empty application root #{shell.empty_root}"
    if not shell.body:
        return "script shell: no body"
    if shell.text - 1 < _SHELL_TEXT:
        return f"script shell: {max(shell.text - 1, 0)} characters of text"
    return None
