"""Decorate a document: archive every link in an HTML or Markdown file and write it back with each
link made robust (Robust Links attributes in HTML, an "(archived)" link after it in Markdown).

Each link is captured as its own source at depth 0 (the page and its requisites), as `add` does
for an article's cited links: the document plays the article, so what its links cite in turn is
out of scope, and each link can then be listed, re-checked and cited on its own.
"""

from __future__ import annotations

import codecs
import contextlib
import html
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import lxml.html
from sqlalchemy import select
from w3lib.encoding import html_body_declared_encoding, read_bom, to_unicode

from citevault.storage.errors import BadInput, CitevaultError, StorageError
from citevault.storage.models import Capture

from .archive import Archive
from .citations import ArchivedCopy, CaptureSet
from .urlnorm import normalize_url
from .wacz_export import check_writable

__all__ = ["Decorated", "LinkOutcome", "decorate_file", "decorate_text", "document_kind", "find_links"]

_KINDS = {".html": "html", ".htm": "html", ".xhtml": "html", ".md": "markdown", ".markdown": "markdown"}
_ARCHIVED_MARK = re.compile(r" \(\[archived\]\(")


@dataclass
class LinkOutcome:
    """What happened to one link of the document."""

    url: str
    state: str  # decorated | failed | skipped
    replay_url: str | None = None
    source_id: int | None = None
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"url": self.url, "state": self.state, "replay_url": self.replay_url,
                "source_id": self.source_id, "reason": self.reason}


@dataclass
class Decorated:
    input: Path
    output: Path
    kind: str
    links: list[LinkOutcome] = field(default_factory=list)

    def count(self, state: str) -> int:
        return sum(1 for ln in self.links if ln.state == state)

    def as_json(self) -> dict[str, Any]:
        return {"input": str(self.input), "output": str(self.output), "kind": self.kind,
                "decorated": self.count("decorated"), "failed": self.count("failed"),
                "skipped": self.count("skipped"), "links": [ln.as_json() for ln in self.links]}


def document_kind(path: Path) -> str:
    """"html" or "markdown", from the file name; BadInput for anything else."""
    kind = _KINDS.get(path.suffix.lower())
    if kind is None:
        raise BadInput(f"unsupported file type {path.suffix or '(none)'} of {path}: "
                       "want .html, .htm, .md or .markdown")
    return kind


# -- finding links -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Found:
    start: int  # Markdown: where the link's text starts; HTML: unused
    end: int  # Markdown: where the decoration goes
    url: str  # absolute http(s) URL
    decorated: bool  # already carries an archived copy


def _http(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def _mask(text: str, start: int, end: int) -> str:
    return text[:start] + re.sub(r"[^\n]", " ", text[start:end]) + text[end:]


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,}).*?$.*?(?:^ {0,3}\1[`~]*[ \t]*$|\Z)", re.M | re.S)
_CODE_SPAN = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_REF_DEF = re.compile(r"^ {0,3}\[([^\]\n]+)\]:[ \t]*<?([^\s>]+)>?.*$", re.M)
_AUTOLINK = re.compile(r"<(https?://[^\s<>]*)>", re.I)
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_LINK_TEXT = r"\[((?:[^\[\]\\]|\\.|\[(?:[^\[\]\\]|\\.)*\])*)\]"
_DESTINATION = (  # (url "title"): the URL in <...> or with balanced parentheses, optional title
    r"\(\s*(<[^<>\n]*>|(?:[^\s()\\]|\\.|\((?:[^\s()\\]|\\.)*\))+)"
    r"(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^()]*\)))?\s*\)"
)
_INLINE = re.compile(r"(?<![!\\])" + _LINK_TEXT + _DESTINATION)
_IMAGE = re.compile("!" + _LINK_TEXT + _DESTINATION)
_REF_LINK = re.compile(r"(?<![!\\])" + _LINK_TEXT + r"\[([^\[\]]*)\]")
_BARE = re.compile(r"(?<![\w/.@:])https?://[^\s<>\"'`\[\]]+", re.I)
_TRAILING = ".,:;!?*_~'\""


def _trim_bare(url: str) -> str:
    """GFM's rule for where a bare URL ends: trailing punctuation and unbalanced ')' are prose."""
    while url:
        if url[-1] in _TRAILING:
            url = url[:-1]
        elif url[-1] == ")" and url.count(")") > url.count("("):
            url = url[:-1]
        else:
            break
    return url


def _markdown_links(text: str) -> list[_Found]:
    masked = text
    for pattern in (_FENCE, _CODE_SPAN, _COMMENT):
        for m in pattern.finditer(masked):
            masked = _mask(masked, m.start(), m.end())
    defs: dict[str, str] = {}
    for m in _REF_DEF.finditer(masked):
        defs.setdefault(" ".join(m.group(1).lower().split()), m.group(2))
        masked = _mask(masked, m.start(), m.end())
    found: list[_Found] = []

    def add(start: int, end: int, url: str) -> None:
        nonlocal masked
        found.append(_Found(start, end, url, bool(_ARCHIVED_MARK.match(text, end))))
        masked = _mask(masked, start, end)

    for m in _AUTOLINK.finditer(masked):
        add(m.start(), m.end(), m.group(1))
    for m in _HTML_TAG.finditer(masked):
        masked = _mask(masked, m.start(), m.end())
    for m in _INLINE.finditer(masked):
        if m.group(1) == "archived" and text[m.start() - 1:m.start()] == "(":
            masked = _mask(masked, m.start(), m.end())  # our own decoration
            continue
        dest = text[m.start(2):m.end(2)]
        dest = dest[1:-1] if dest.startswith("<") else re.sub(r"\\(.)", r"\1", dest)
        add(m.start(), m.end(), dest)
    for m in _IMAGE.finditer(masked):
        masked = _mask(masked, m.start(), m.end())
    for m in _REF_LINK.finditer(masked):
        label = " ".join((m.group(2) or m.group(1)).lower().split())
        if label in defs:
            add(m.start(), m.end(), defs[label])
    for m in _BARE.finditer(masked):
        url = _trim_bare(m.group(0))
        add(m.start(), m.start() + len(url), url)
    found = [f for f in found if _http(f.url)]
    return sorted(found, key=lambda f: f.start)


def _decode_html(data: bytes) -> tuple[str, str]:
    """The text of an HTML file and the encoding to write it back in. w3lib reads the charset as
    browsers do (BOM, then <meta>); a file that declares none is UTF-8 if it decodes as such,
    else Windows-1252. (Not `html_to_unicode(..., auto_detect_fun=...)`: w3lib 2.6 deprecates
    that hook, and its own guess for an undeclared file depends on a URL a local file has not.)"""
    bom_encoding, bom = read_bom(data)
    if bom_encoding is not None and bom is not None:
        text = to_unicode(data[len(bom):], bom_encoding)
        return text, "utf-8-sig" if bom == codecs.BOM_UTF8 else bom_encoding  # write the BOM back
    encoding = html_body_declared_encoding(data) or _utf8_or_cp1252(data)
    return to_unicode(data, encoding), encoding


def _utf8_or_cp1252(data: bytes) -> str:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


_DOCUMENT = re.compile(
    r"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype|html|head|body)\b", re.I | re.S
)


class _Html:
    """An HTML document or fragment parsed by lxml, serialisable back."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.is_document = bool(_DOCUMENT.match(text))
        try:
            if self.is_document:
                # lxml will not take a str that declares an XML encoding.
                body = re.sub(r"^\s*<\?xml[^>]*>", "", text)
                self.root = lxml.html.document_fromstring(body)
                self.parts: list[Any] = [self.root]
            else:
                self.parts = lxml.html.fragments_fromstring(text) if text.strip() else []
        except (lxml.etree.ParserError, ValueError) as exc:
            raise BadInput(f"cannot parse the HTML: {exc}") from exc
        base = None
        for part in self.parts:
            if not isinstance(part, str):
                base = base or next((b.get("href") for b in part.iter("base") if b.get("href")), None)
        self.base = base

    def anchors(self) -> list[Any]:
        out = []
        for part in self.parts:
            if not isinstance(part, str):
                out += [a for a in part.iter("a") if a.get("href")]
        return out

    def absolute(self, href: str) -> str:
        href = href.strip()
        return urljoin(self.base, href) if self.base else href

    def serialize(self) -> str:
        if self.is_document:
            doctype = self.root.getroottree().docinfo.doctype or None
            out = str(lxml.html.tostring(self.root, doctype=doctype, encoding="unicode"))
        else:
            out = "".join(
                html.escape(p, quote=False) if isinstance(p, str)
                else lxml.html.tostring(p, encoding="unicode")
                for p in self.parts
            )
        trailing = self.text[len(self.text.rstrip()):]
        return out.rstrip() + trailing


def _html_links(doc: _Html) -> list[tuple[Any, _Found]]:
    out = []
    for a in doc.anchors():
        if a.get("href").strip().startswith("#"):
            continue  # a place in the document itself
        url = doc.absolute(a.get("href"))
        if _http(url):
            out.append((a, _Found(0, 0, url, a.get("data-versionurl") is not None)))
    return out


def _find(text: str, kind: str) -> list[_Found]:
    return _markdown_links(text) if kind == "markdown" else [f for _, f in _html_links(_Html(text))]


def find_links(text: str, kind: str) -> list[str]:
    """The absolute http(s) links of a document, in order, each once."""
    found = _find(text, kind)
    return list(dict.fromkeys(f.url for f in found))


# -- rewriting -----------------------------------------------------------------------------------------
def _md_url(url: str) -> str:
    return f"<{url}>" if re.search(r"[\s()<>]", url) else url


def decorate_text(text: str, kind: str, copies: dict[str, ArchivedCopy]) -> str:
    """The document with each link whose URL has a copy in `copies` decorated (links that already
    carry an archived copy are left alone)."""
    if kind == "markdown":
        out, pos = [], 0
        for f in _markdown_links(text):
            copy = copies.get(f.url)
            if copy is None or f.decorated:
                continue
            out += [text[pos:f.end], f" ([archived]({_md_url(copy.replay_url)}))"]
            pos = f.end
        return "".join(out) + text[pos:]
    doc = _Html(text)
    for a, f in _html_links(doc):
        copy = copies.get(f.url)
        if copy is None or f.decorated:
            continue
        a.set("data-originalurl", f.url)
        a.set("data-versionurl", copy.replay_url)
        a.set("data-versiondate", copy.date)
    return doc.serialize()


def _write_atomic(out: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        if out.exists():
            os.chmod(tmp, out.stat().st_mode & 0o7777)
        os.replace(tmp, out)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise StorageError(f"cannot write {out}: {exc.strerror}") from exc


def decorate_file(
    archive: Archive,
    path: Path,
    out: Path | None = None,
    *,
    base_url: str,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> Decorated:
    """Archive every link of an HTML or Markdown file (each as a depth-0 source) and write the file
    (or `out`) back with the links that got an archived copy decorated."""
    path, out = Path(path), Path(out or path)
    kind = document_kind(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror}") from exc
    if kind == "html":
        text, encoding = _decode_html(data)
    else:
        try:
            text = data.decode("utf-8-sig")
            encoding = "utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8"
        except UnicodeDecodeError as exc:
            raise BadInput(f"{path} is not UTF-8 text: {exc}") from exc
    check_writable(out)

    result = Decorated(input=path, output=out, kind=kind)
    own = base_url.rstrip("/") + "/web/"  # links into our own replay are not archived again
    wanted: dict[str, str] = {}  # document URL -> normalized URL to capture
    found = _find(text, kind)
    pending = {f.url for f in found if not f.decorated}
    for url in dict.fromkeys(f.url for f in found):
        if url.startswith(own):
            continue
        if url not in pending:
            result.links.append(LinkOutcome(url, "skipped", reason="already decorated"))
            continue
        try:
            wanted[url] = normalize_url(url)
        except CitevaultError as exc:
            result.links.append(LinkOutcome(url, "skipped", reason=str(exc)))

    copies: dict[str, ArchivedCopy] = {}
    if wanted:
        targets = list(dict.fromkeys(wanted.values()))
        done = archive.capture_now(targets, depth=0, note=f"linked from {path.name} (decorate)",
                                   on_progress=on_progress)
        if done.interrupted:  # what was captured is kept; the document is left as it was
            raise KeyboardInterrupt
        queued = done.queued
        by_url = {q.url: q for q in queued}
        with archive.index.session() as s:
            for url, norm in wanted.items():
                q = by_url[norm]
                caps = CaptureSet(s.scalars(select(Capture).where(Capture.snapshot_id == q.snapshot_id)))
                final = caps.final(norm)
                if final is None:
                    result.links.append(LinkOutcome(url, "failed", source_id=q.source_id,
                                                    reason=caps.failure(norm)))
                    continue
                copy = ArchivedCopy.from_capture(final, base_url)
                if not copy.usable:
                    result.links.append(LinkOutcome(
                        url, "failed", copy.replay_url, q.source_id,
                        f"the page answered HTTP {copy.status} when it was captured"))
                    continue
                copies[url] = copy
                result.links.append(LinkOutcome(url, "decorated", copy.replay_url, q.source_id))
    order = {u: i for i, u in enumerate(dict.fromkeys(f.url for f in found))}
    result.links.sort(key=lambda ln: order.get(ln.url, 0))
    if copies:
        data = decorate_text(text, kind, copies).encode(encoding, errors="xmlcharrefreplace")
    _write_atomic(out, data)
    return result
