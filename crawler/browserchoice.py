"""Which pages need a browser: `--browser auto` sends script shells and hosts known to build their
pages in the browser to Chromium, everything else stays on the HTTP crawler.

One decision (`_verdict`) over the facts of a page (`_Facts`), read from the tree the crawl parses
once for the page's links too, or, from a page too big for a tree (above linkstream.STREAM_ABOVE,
where link extraction streams as well: the tree of a 68 MB page of a million links took 600 MB in
the crawl process, benchmarks/RESULTS.md (6)), from one streaming pass (`_Shell`)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from lxml import etree

from .links import page_tree
from .linkstream import STREAM_ABOVE, parse_streamed
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
_HIDDEN = {"script", "style", "noscript", "template"}


def _host_listed(url: str, hosts: Iterable[str]) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return any(host == h or host.endswith("." + h) for h in (x.lower().strip() for x in hosts) if h)


@dataclass
class _Facts:
    """What the choice looks at: scripts, what <noscript> says, the first empty application root,
    whether there is a body, and its visible text (counted up to `_SHELL_TEXT`)."""

    scripts: bool = False
    noscript_js: bool = False
    empty_root: str | None = None
    body: bool = False
    text: int = 0


def browser_reason(
    url: str, body: bytes, hosts: Iterable[str] = DEFAULT_BROWSER_HOSTS, *,
    tree: etree._Element | None = None,
) -> str | None:
    """Why this HTML page should be rendered in a browser under `auto`, or None to stay on HTTP.
    `tree` is the page already parsed (links.page_tree: the crawl parses a page once for this
    and its links); a page too big for a tree (linkstream.STREAM_ABOVE) is read as a stream."""
    if _host_listed(url, hosts):
        return "host builds its pages in the browser"
    if tree is None and len(body) > STREAM_ABOVE:
        facts = _streamed_facts(body)
    else:
        doc = tree if tree is not None else page_tree(body, url)
        if doc is None:
            return None
        facts = _tree_facts(doc)
    return _verdict(facts)


def _verdict(facts: _Facts) -> str | None:
    """The one decision, whichever way the facts were read."""
    if not facts.scripts:
        return None  # nothing could build the page: what the server sent is what a reader sees
    if facts.noscript_js:
        return "the page asks for JavaScript (<noscript>)"
    if facts.empty_root is not None:
        return f"empty application root #{facts.empty_root}"
    if not facts.body:
        return "script shell: no body"
    if facts.text < _SHELL_TEXT:
        return f"script shell: {facts.text} characters of text"
    return None


def _tree_facts(doc: etree._Element) -> _Facts:
    """The facts of a parsed page, read without changing the tree (links are read from it too)."""
    facts = _Facts(scripts=bool(doc.xpath("//script")))
    if not facts.scripts:
        return facts  # the rest does not matter
    facts.noscript_js = any(_ENABLE_JS.search(ns.text_content() or "") for ns in doc.xpath("//noscript"))
    facts.empty_root = next(
        (el.get("id") for el in doc.xpath("//*[@id]")
         if el.get("id") in _APP_ROOTS and not (el.text_content() or "").strip() and len(el) == 0),
        None,
    )
    body_el = doc.find("body")
    facts.body = body_el is not None
    if body_el is not None:
        facts.text = _visible_chars(_visible_texts(body_el))
    return facts


def _visible_texts(el: etree._Element) -> Iterator[str]:
    """The texts of `el` outside scripts, styles, noscript and templates, in document order (what
    `text_content()` joins once they are dropped), lazily: the count stops at `_SHELL_TEXT`. An
    XPath over every text node cost an article page 2 ms, more than parsing it."""
    if el.text:
        yield el.text
    for child in el:
        tag = child.tag
        if isinstance(tag, str) and tag not in _HIDDEN:  # not a comment, a script...
            yield from _visible_texts(child)
        if child.tail:
            yield child.tail


_WORD = re.compile(r"\S+")


def _visible_chars(texts: Iterable[str]) -> int:
    """len(" ".join("".join(texts).split())), counted only up to `_SHELL_TEXT`: an article's body
    is tens of KB, and splitting and joining all of it was most of `browser_reason`'s time. The
    texts are read joined, as `text_content()` joins them: "<b>un</b>told" is one word."""
    n = -1
    inside = False  # the texts so far end inside a word
    for text in texts:
        for word in _WORD.finditer(text):
            n += word.end() if inside and word.start() == 0 else word.end() - word.start() + 1
            inside = False
            if n >= _SHELL_TEXT:
                return n
        if text:
            inside = not text[-1].isspace()
    return max(n, 0)


class _Shell:
    """A parser target gathering `_Facts` in one pass, without a tree (a page too big for one)."""

    def __init__(self) -> None:
        self.facts = _Facts()
        self.texts: list[str] = []  # the body's visible text, until it surely reaches the threshold
        self.seen = 0  # characters other than whitespace in `texts`
        self.hidden = 0  # depth inside script, style, noscript, template
        self.noscript: list[str] | None = None
        self.roots: list[list[object]] = []  # open application roots: [id, depth, still empty]
        self.depth = 0

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        for root in self.roots:
            root[2] = False  # a child element
        self.depth += 1
        self.facts.scripts = self.facts.scripts or tag == "script"
        self.facts.body = self.facts.body or tag == "body"
        if tag == "noscript" and self.noscript is None:
            self.noscript = []
        if tag in _HIDDEN:
            self.hidden += 1
        if attrib.get("id") in _APP_ROOTS:
            self.roots.append([attrib["id"], self.depth, True])

    def end(self, tag: str) -> None:
        if self.roots and self.roots[-1][1] == self.depth:
            ident, _, empty = self.roots.pop()
            if empty and self.facts.empty_root is None:
                self.facts.empty_root = str(ident)
        self.depth -= 1
        if tag in _HIDDEN and self.hidden:
            self.hidden -= 1
        if tag == "noscript" and self.noscript is not None:
            found = bool(_ENABLE_JS.search(" ".join(self.noscript)))
            self.facts.noscript_js = self.facts.noscript_js or found
            self.noscript = None

    def data(self, text: str) -> None:
        if self.facts.body and not self.hidden and self.seen < _SHELL_TEXT:
            # Whitespace too: it separates the words around it.
            self.texts.append(text)
            self.seen += len("".join(text.split()))
        if not text.strip():
            return
        for root in self.roots:
            root[2] = False
        if self.noscript is not None:
            self.noscript.append(text)

    def close(self) -> None:
        return None


def _streamed_facts(body: bytes) -> _Facts:
    """The facts of a page too big for a tree, from one streaming pass."""
    shell = _Shell()
    parse_streamed(body, shell)
    # Once `seen` reaches the threshold the text surely does too (every one of those characters
    # counts): what was kept decides exactly.
    shell.facts.text = _visible_chars(shell.texts)
    return shell.facts
