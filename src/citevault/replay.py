"""Wayback-style replay of archived records: HTML and CSS rewritten so that every link, source and
url() points back into /web/, archived headers made safe to serve, the sandboxing
Content-Security-Policy and the bounds of one replay. Framework-free. The banner and the
capture-list page are in replaypages.py.

Modifiers (as in the Wayback Machine and pywb): none = rewritten page with banner, `if_`/`fw_` =
rewritten without banner (frames), `cs_` = stylesheet, `js_` = script (its `location` made the
archive's, jsrewrite.py), `im_`/`oe_` = resource served as archived, `id_` = the original payload
unchanged. Inline scripts, `on*` handlers and `javascript:` URLs of rewritten HTML get the same
script rewriting.

Content-Encoding: raw modes serve the archived bytes with their original Content-Encoding header,
so the client decodes them and what it receives is byte-identical to what was archived; rewritten
HTML and CSS are decoded first and served without a content coding (the archived header is kept
as X-Archive-Orig-Content-Encoding).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urldefrag, urljoin

import lxml.html
from lxml import etree
from w3lib.encoding import html_body_declared_encoding, http_content_type_encoding
from warcio.statusandheaders import StatusAndHeaders

from citevault.crawler.links import CSS_URL_RE, srcset_candidates
from citevault.storage.errors import BadInput, UnsupportedURL
from citevault.storage.index import parse_timestamp
from citevault.storage.models import HTML_TYPES, Capture
from citevault.storage.warcreader import ArchivedPayload

from .jsrewrite import JS_TYPES, MAY_REACH_WINDOW, rewrite_script
from .replaypages import banner_html
from .urlnorm import normalize_url

__all__ = [
    "CSP",
    "GUARDED_CSP",
    "MODIFIERS",
    "Replayed",
    "Rewriter",
    "archived_url",
    "parse_ts_modifier",
    "render_memento",
]

# Archived pages may only load from the archive (no request to the live web), and run their
# scripts in a sandbox without allow-same-origin: an opaque origin, so no access to the
# service's cookies, storage or API with the user's credentials.
# No allow-popups: an archived script's window.open(live URL) would go to the live web;
# links that open a new window (target=_blank) open in place instead (Rewriter drops the target).
CSP = (
    "default-src 'self' data: blob: 'unsafe-inline' 'unsafe-eval'; form-action 'self'; "
    "base-uri 'self'; sandbox allow-scripts allow-forms"
)
# Rewritten pages also carry the frame guard (web/static/replay-guard.js) as their first script:
# Chromium connects to the host of a frame a script creates before frame-src refuses it, so the
# guard rewrites such frames into the archive first; HTML strings reach it through its Trusted
# Types default policy, which this directive makes every HTML sink call.
GUARDED_CSP = CSP + "; require-trusted-types-for 'script'"
MODIFIERS = ("id_", "im_", "js_", "cs_", "if_", "fw_", "oe_")
_RAW_MODIFIERS = ("id_", "im_", "js_", "oe_")
# Served as a script wherever it is asked for (not id_/im_/oe_/cs_), rewritten: what a browser runs.
_SCRIPT_MODIFIERS = ("", "js_", "if_", "fw_")
# What a `js_` request may get from a mislabelling server and still run as a script.
_PLAIN_TYPES = frozenset(("", "text/plain", "application/octet-stream", "application/json"))
# Attributes whose `javascript:` URL runs a script when followed.
_URL_ATTRS = ("href", "src", "action", "formaction")
_JS_URL_RE = re.compile(r"\s*javascript:", re.I)
_NO_BANNER = ("if_", "fw_")
# Served as archived in raw modes, except these, which would act on the client (cookies, HSTS,
# CSP, framing, reporting) or describe a transfer that is not this one.
_CONFUSING = frozenset(
    "content-length transfer-encoding connection keep-alive proxy-connection te trailer upgrade "
    "set-cookie set-cookie2 content-security-policy content-security-policy-report-only "
    "strict-transport-security public-key-pins x-frame-options access-control-allow-origin "
    "access-control-allow-credentials clear-site-data report-to nel alt-svc refresh link "
    "memento-datetime vary date server location".split()
)
# What a rewritten page keeps: its body changed, so validators and codings no longer apply.
_REWRITTEN_KEEP = frozenset("content-type content-language last-modified cache-control expires".split())
# Types a browser renders as documents that load more (frames, images, scripts): served raw to a
# browser's navigation, their subresources and frames would go to the live web, which no CSP can
# stop (Chromium opens a connection to a blocked frame's host before CSP refuses it).
_ACTIVE_DOCUMENTS = frozenset(
    "text/html application/xhtml+xml image/svg+xml text/xml application/xml".split()
)
# Bounds of one replay, whatever the record: lxml holds about 30x a page's size while rewriting
# (a 32 MB page took 1.1 GB), so bigger pages are served raw; archived headers beyond these sizes
# are left out of the response (the WARC record keeps them all).
REWRITE_LIMIT = 8 * 1024 * 1024
HEADER_LIMIT = 32 * 1024
HEADER_VALUE_LIMIT = 8 * 1024
_SQ_IMPORT_RE = re.compile(r"@import\s+'([^']*)'", re.I)
_XML_DECL_RE = re.compile(r"^\s*<\?xml[^>]*\?>")
_TS_MOD_RE = re.compile(r"(\d*)([a-z]{2}_)?")


def parse_ts_modifier(value: str) -> tuple[str, str]:
    """(timestamp as given, modifier) of a /web/ path segment like `2026`, `20261103061200id_`;
    BadInput unless the timestamp is 0-14 valid digits and the modifier a known one."""
    m = _TS_MOD_RE.fullmatch(value)
    if not m:
        raise BadInput(f"bad timestamp {value!r}: want 1 to 14 digits (YYYYMMDDhhmmss), then a "
                       f"modifier such as id_")
    ts, mod = m.group(1), m.group(2) or ""
    if mod and mod not in MODIFIERS:
        raise BadInput(f"unknown replay modifier {mod!r}: want one of {', '.join(MODIFIERS)}")
    if ts:
        parse_timestamp(ts)
    return ts, mod


def archived_url(raw: str) -> str:
    """The archived URL named in a replay path: slashes a proxy collapsed restored, http:// assumed."""
    m = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):/*", raw)
    if m and m.group(1).lower() in ("http", "https"):
        raw = f"{m.group(1)}://{raw[m.end():]}"
    elif "://" not in raw:
        raw = "http://" + raw
    try:
        return normalize_url(raw)
    except UnsupportedURL as exc:
        raise BadInput(str(exc)) from exc


def _charset(content_type: str | None, body: bytes, default: str = "utf-8") -> str:
    """The charset of a page as w3lib reads it: the HTTP header's, else the page's own <meta>."""
    found = http_content_type_encoding(content_type) or html_body_declared_encoding(body[:4096])
    return found or default


@dataclass
class Rewriter:
    """Rewrites the links of one archived page or stylesheet into `{prefix}{ts}{modifier}/{url}`."""

    prefix: str  # "/web/"
    ts: str
    base_url: str  # the archived URL of the document
    guard: str | None = None  # URL of the frame guard script to run first, if any

    def url(self, link: str, modifier: str = "", base: str | None = None) -> str:
        link = link.strip()
        if not link or link.startswith(("#", "data:", "blob:", "javascript:", "mailto:", "tel:", "about:")):
            return link
        try:
            absolute = urljoin(base or self.base_url, link)
        except ValueError:
            return link
        return self._archived(absolute, modifier) or link

    def _archived(self, absolute: str, modifier: str = "") -> str | None:
        """The archive's URL of an absolute http(s) URL; None for any other scheme."""
        if not absolute[:8].lower().startswith(("http://", "https://")):
            return None
        return f"{self.prefix}{self.ts}{modifier}/{absolute}"

    # -- CSS -------------------------------------------------------------------------------------
    def css(self, text: str) -> str:
        """url(...) and @import references of a stylesheet, rewritten."""

        def sub(m: re.Match[str]) -> str:
            for name, fmt in (("dq", 'url("{}")'), ("sq", "url('{}')"), ("bare", "url({})"),
                              ("idq", '@import "{}"'), ("isq", "@import '{}'")):
                value = m.group(name)
                if value is not None:
                    if name == "bare" and not value:
                        return m.group(0)
                    return fmt.format(self.url(value))
            return m.group(0)

        return CSS_URL_RE.sub(sub, text)

    # -- HTML ------------------------------------------------------------------------------------
    def html(self, body: bytes, charset: str, banner: str | None) -> bytes:
        """The page with every link rewritten (lxml's link rewriting, plus the srcset, poster and
        data-src attributes and quoted @imports it does not know), and the banner inserted."""
        text = _XML_DECL_RE.sub("", body.decode(charset, "replace"), count=1)
        try:
            doc = lxml.html.document_fromstring(text)
        except (etree.ParserError, ValueError):
            return body
        base = self.base_url
        base_el = doc.find(".//base[@href]")
        if base_el is not None:
            try:
                base = urljoin(self.base_url, base_el.get("href", ""))
            except ValueError:
                pass
            base_el.drop_tree()
        page = urldefrag(base)[0]
        anchor = page + "#"

        # One pass over the links (lxml's make_links_absolute then rewrite_links walked them
        # twice and joined each URL twice: 19% of a rewritten replay's CPU, issue 15 target 7).
        def repl(link: str) -> str:
            try:
                absolute = urljoin(base, link)
            except ValueError:
                return link
            if absolute.startswith(anchor):
                return absolute[len(page):]  # an in-page anchor stays in the page
            return self._archived(absolute) or absolute

        doc.rewrite_links(repl, resolve_base_href=False)
        for el in doc.xpath("//*[@srcset or @imagesrcset or @data-srcset]"):
            for attr in ("srcset", "imagesrcset", "data-srcset"):
                if el.get(attr):
                    el.set(attr, self._srcset(el.get(attr), base))
        for el in doc.xpath("//*[@poster or @data-src]"):
            for attr in ("poster", "data-src"):
                if el.get(attr):
                    el.set(attr, self.url(el.get(attr), "im_", base))
        self._navigations(doc)
        self._scripts(doc)
        for el in doc.iter("style"):
            if el.text and "@import" in el.text:
                el.text = _SQ_IMPORT_RE.sub(lambda m: f"@import '{self.url(m.group(1), base=base)}'", el.text)
        self._modifiers(doc)
        if self.guard:
            self._add_guard(doc, base)
        if banner:
            body_el = doc.find("body")
            target = body_el if body_el is not None else doc
            target.insert(0, lxml.html.fragment_fromstring(banner))
        doctype = doc.getroottree().docinfo.doctype or None
        return lxml.html.tostring(doc, encoding="utf-8", method="html", doctype=doctype)  # type: ignore[no-any-return]

    def _add_guard(self, doc: lxml.html.HtmlElement, base: str) -> None:
        """The frame guard as the first script of the page, told where the archive is."""
        head = doc.find("head")
        if head is None:
            head = lxml.html.Element("head")
            doc.insert(0, head)
        head.insert(0, lxml.html.Element("script", {
            "src": self.guard or "", "data-citevault-guard": "", "data-prefix": self.prefix,
            "data-ts": self.ts, "data-url": base,
        }))

    def _srcset(self, value: str, base: str) -> str:
        return ", ".join(
            f"{self.url(url, 'im_', base)} {desc}".rstrip() for url, desc in srcset_candidates(value)
        )

    def _navigations(self, doc: lxml.html.HtmlElement) -> None:
        """What lxml's link rewriting (which does meta refresh) does not see but would take a
        connection to the live web: iframe srcdoc documents, hyperlink pings; and new-window
        targets, which the sandbox (no popups) would silently refuse."""
        for el in doc.xpath("//iframe[@srcdoc]"):
            el.set("srcdoc", self.html(el.get("srcdoc", "").encode(), "utf-8", None).decode())
        for el in doc.xpath("//*[@ping]"):
            del el.attrib["ping"]
        for el in doc.xpath("//*[@target]"):
            if el.get("target", "").lower() in ("_blank", "_new"):
                del el.attrib["target"]  # popups are not allowed in the replay sandbox

    def _scripts(self, doc: lxml.html.HtmlElement) -> None:
        """Inline scripts, `on*` handlers and `javascript:` URLs with the window and its location
        made the archive's (jsrewrite.py); script blocks of other types (JSON, templates) are data."""
        for el in doc.iter("script"):
            kind = (el.get("type") or "").split(";")[0].strip().lower()
            if el.text and (not kind or kind in JS_TYPES):
                el.text = rewrite_script(el.text)
        for el in doc.iter(etree.Element):
            for name, value in el.items():
                if not MAY_REACH_WINDOW.search(value):
                    continue
                if name.startswith("on"):
                    el.set(name, rewrite_script(value))
                elif name in _URL_ATTRS and (m := _JS_URL_RE.match(value)):
                    el.set(name, value[:m.end()] + rewrite_script(value[m.end():]))

    def _modifiers(self, doc: lxml.html.HtmlElement) -> None:
        """Tell the replay what each rewritten reference loads (Wayback's im_/js_/cs_/if_)."""
        plain = f"{self.prefix}{self.ts}/"

        def mark(el: lxml.html.HtmlElement, attr: str, mod: str) -> None:
            value = el.get(attr)
            if value and value.startswith(plain):
                el.set(attr, f"{self.prefix}{self.ts}{mod}/{value[len(plain):]}")

        for el in doc.iter("img", "input", "source", "video", "audio", "track", "embed"):
            mark(el, "src", "im_")
        for el in doc.iter("script"):
            mark(el, "src", "js_")
        for el in doc.iter("iframe", "frame"):
            mark(el, "src", "if_")
        for el in doc.iter("link"):
            rels = (el.get("rel") or "").lower().split()
            kind = el.get("as") or ""
            if "stylesheet" in rels or kind == "style":
                mark(el, "href", "cs_")
            elif "icon" in rels or kind in ("image", "font"):
                mark(el, "href", "im_")
            elif kind == "script":
                mark(el, "href", "js_")


# -- serving one record --------------------------------------------------------------------------
@dataclass
class Replayed:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    guarded: bool = False  # a rewritten page carrying the frame guard: serve it GUARDED_CSP


def _headers(head: StatusAndHeaders | None, *, rewritten: bool) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    size = omitted = 0
    for name, value in head.headers if head is not None else []:
        size += len(name) + len(value) + 4
        if size > HEADER_LIMIT or len(value) > HEADER_VALUE_LIMIT:
            omitted += 1  # no browser accepts megabytes of headers; the record keeps them
            continue
        low = name.lower()
        keep = low in _REWRITTEN_KEEP if rewritten else low not in _CONFUSING
        out.append((name, value) if keep else (f"X-Archive-Orig-{name}", value))
    if omitted:
        out.append(("X-Archive-Headers-Omitted", str(omitted)))
    return out


def _as_text(headers: list[tuple[str, str]], charset: str) -> list[tuple[str, str]]:
    """Headers for an active document shown as its source: text/plain, never sniffed."""
    out = [(f"X-Archive-Orig-{k}" if k.lower() == "content-type" else k, v) for k, v in headers]
    return [*out, ("Content-Type", f"text/plain; charset={charset}"), ("X-Content-Type-Options", "nosniff")]


def render_memento(
    cap: Capture, rec: ArchivedPayload, *, modifier: str, prefix: str, navigation: bool = False,
    guard: str | None = None,
) -> Replayed:
    """The response replaying one archived record (revisits already resolved by Archive.resolve).
    `navigation`: a browser opens it as a page or frame (Sec-Fetch-Dest), so an active document
    served raw (`id_`, or too big to rewrite) is shown as its source, loading nothing.
    `guard`: URL of the frame guard script, made the first script of rewritten HTML."""
    head = rec.http_headers
    status = int(head.get_statuscode() or 200) if head is not None and head.statusline else 200
    content_type = head.get_header("Content-Type") if head is not None else None
    mime = (content_type or cap.mime or "").split(";")[0].strip().lower()
    rw = Rewriter(prefix, cap.timestamp, cap.url, guard)
    decoded = b""
    guarded = False
    script = modifier in _SCRIPT_MODIFIERS and (
        mime in JS_TYPES or (modifier == "js_" and mime in _PLAIN_TYPES))
    raw = not script and (modifier in _RAW_MODIFIERS or not (mime in HTML_TYPES or mime == "text/css"))
    if not raw and len(rec.payload) > REWRITE_LIMIT:
        raw = True
    if not raw:
        decoded = rec.decoded
        coding = (head.get_header("Content-Encoding") or "") if head is not None else ""
        # A content coding we cannot undo: serve the bytes as archived and let the client try.
        raw = (decoded is rec.payload and coding.strip().lower() not in ("", "identity")) or (
            len(decoded) > REWRITE_LIMIT)
    if raw:
        headers, body = _headers(head, rewritten=False), rec.payload
        if navigation and mime in _ACTIVE_DOCUMENTS:
            headers = _as_text(headers, _charset(content_type, rec.payload))
    else:
        headers = _headers(head, rewritten=True)
        if mime == "text/css" or script:
            cs = _charset(content_type, b"")
            text = decoded.decode(cs, "surrogateescape")
            body = (rewrite_script(text) if script else rw.css(text)).encode(cs, "surrogateescape")
        else:
            banner = None if modifier in _NO_BANNER else banner_html(prefix, cap.url, cap.timestamp, status)
            body = rw.html(decoded, _charset(content_type, decoded), banner)
            guarded = bool(guard)
            headers = [(k, v) for k, v in headers if k.lower() != "content-type"]
            headers.append(("Content-Type", "text/html; charset=utf-8"))
    location = head.get_header("Location") if head is not None else None
    if location and 300 <= status < 400:
        headers.append(("Location", rw.url(location, modifier)))
    return Replayed(status, headers, body, guarded)
