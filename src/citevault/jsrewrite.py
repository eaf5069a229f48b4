"""Rewriting of archived scripts at replay time so that the window they reach is the archive's.

Why: a replayed page's own script that sets `location.href = "https://live..."` would take the
window to the live web: `Location` is unforgeable and Chromium ignores the Navigation API's
preventDefault in the replay sandbox, so the only place to stop it is the script text. Our own
code, after the idea of pywb's location rewriter and Webrecorder's wombat window proxy: rename, do
not wrap. The frame guard (web/static/replay-guard.js) defines the new names on every window:

- `location` -> `__cvLocation`: reads give the archived URL's parts, writes (href, assign,
  replace, `location = ...`) go to `/web/<ts>/<url>`;
- `window`, `self`, `top`, `parent`, `frames`, `globalThis` -> `__cvWindow`, `__cvSelf`, ...: a
  Proxy of the window whose `location` (by any name, computed or destructured) is the guarded
  one, so an alias (`(function (w) { w.location = u })(window)`, `var w = self`), computed access
  (`window["loc" + "ation"]`) and destructuring (`const {location: l} = window`) stay in the
  archive; `top`/`parent` are that proxy when they are the window itself;
- `this` -> `__cvThis(this)` where it may be the window (`this.location`, `this[k]`, `this` given
  or returned as a value; not `this.name` of other names, the common case left as it is).

Renamed alike everywhere: a local `var self = this` or a parameter `window` becomes `__cvSelf`
too, so scoping is unchanged; no block is wrapped around the script, so strict mode, modules and
top-level `let`/`const`/`class` (visible to the page's other scripts) behave as archived.
Strings, comments, template literals and regular-expression literals are left alone, so are
property names (`obj.top`, `.location` of objects other than the window and document), object
keys (`{top: 1}`), class members, and names followed by `(` (a method definition or a call,
never the window's). A shorthand property keeps its key: `{top}` becomes `{top: __cvTop}`.

Not covered (known): code inside template `${...}`, `javascript:` URLs percent-encoding a name, a
window reached by other means (`document.defaultView` aside, which the guard gives as the proxy:
`frames[0]`, `event.view`, `(0, eval)("this")`), a local function named like one of these
referenced without a call. In the browser the guard applies the same rules (its port,
rewriteScript) to setTimeout/setInterval strings, `javascript:` URLs, script text set at run time
and `new Function` code; direct eval code naming `location` is refused by Chromium (EvalError),
since a Trusted Types default policy may not change eval code (eval code naming only the window
is left unchanged, and runs outside the proxy).
"""

from __future__ import annotations

import re

__all__ = ["GUARDED_LOCATION", "GUARDED_NAMES", "JS_TYPES", "MAY_REACH_WINDOW", "rewrite_script"]

GUARDED_LOCATION = "__cvLocation"
# The window's names and what they become (replay-guard.js defines these on every window).
GUARDED_NAMES = {
    "location": GUARDED_LOCATION, "window": "__cvWindow", "self": "__cvSelf", "top": "__cvTop",
    "parent": "__cvParent", "frames": "__cvFrames", "globalThis": "__cvGlobalThis",
}
CHECK_THIS = "__cvThis"
# A handler or javascript: URL without any of these names has nothing to rewrite (`this` in an
# element's handler is the element).
MAY_REACH_WINDOW = re.compile("|".join(GUARDED_NAMES))
# Content types of scripts (RFC 9239 and the legacy ones browsers still run).
JS_TYPES = frozenset(
    "application/javascript text/javascript application/x-javascript application/ecmascript "
    "text/ecmascript text/jscript text/x-javascript module".split()
)
_OWNERS = r"window|self|top|parent|globalThis|document"
# One scan: what must be skipped whole (comments, strings, templates), a slash that may open a
# regular expression, brackets (to tell object literals from blocks), and the names themselves.
_TOKEN_RE = re.compile(
    r"""//[^\n\r]*|/\*.*?(?:\*/|\Z)
      |"(?:[^"\\\n]|\\.)*"?|'(?:[^'\\\n]|\\.)*'?|`(?:[^`\\]|\\.)*`?
      |(?P<slash>/)|(?P<open>[{(\[])|(?P<close>[})\]])
      |(?<![\w$#])(?P<name>location|window|self|top|parent|frames|globalThis|this)(?![\w$])""",
    re.S | re.X,
)
_REGEX_LITERAL_RE = re.compile(r"/(?:[^/\\\[\n\r]|\\.|\[(?:[^\]\\\n\r]|\\.)*\])+/[\w$]*")
# A slash after these starts a regular expression; after a name, number or `)`/`]` it divides.
_BEFORE_REGEX = frozenset("(,=:[!&|?{};+-*%<>~^")
_REGEX_KEYWORDS = frozenset(
    "return typeof instanceof in of new delete void throw case do else yield await".split())
_TAIL_WORD_RE = re.compile(r"([\w$]+)\s*$")
_OWNER_RE = re.compile(rf"(?<![\w$.])(?:{_OWNERS})\s*\??\.\s*$")
_LOOKBACK = 80  # characters looked at before a match: an owner and its dot fit, a script does not
# A `{` after these opens an object literal or pattern (else a block, a function or class body).
_BEFORE_OBJECT = frozenset("(,=:[?!&|.")
_OBJECT_KEYWORDS = frozenset("return typeof yield await const let var in of".split())
# `case x: {` and `default: {` open a block, not an object value.
_CASE_RE = re.compile(r"(?<![\w$.])(?:case\s[^;{}?]*|default\s*):\s*$")
# In a class body a name is a member's, unless it starts an expression (a field's initializer).
_CLASS_EXPRESSION = frozenset("=(,:[!&|?+-*%<>~^")
_CLASS_HEAD_RE = re.compile(r"(?<![\w$.])class(?:\s+[\w$]+)?(?:\s+extends\s+[^{};]+?)?\s*$")
_THIS_MEMBER_RE = re.compile(r"\s*\.\s*(#?[\w$]+)")  # a private name (#x) too


def _prev_char(text: str, pos: int) -> str:
    """The last character before pos that is not white space ('' at the start)."""
    pos -= 1
    while pos >= 0 and text[pos].isspace():
        pos -= 1
    return text[pos] if pos >= 0 else ""


def _next_char(text: str, pos: int) -> str:
    n = len(text)
    while pos < n and text[pos].isspace():
        pos += 1
    return text[pos] if pos < n else ""


def _starts_regex(text: str, pos: int) -> bool:
    prev = _prev_char(text, pos)
    if not prev or prev in _BEFORE_REGEX:
        return True
    m = _TAIL_WORD_RE.search(text, max(0, pos - 16), pos)
    return bool(m and m.group(1) in _REGEX_KEYWORDS)


def _brace_kind(text: str, pos: int) -> str:
    """What the `{` at pos opens: "o" an object literal or pattern, "c" a class body, "b" else."""
    prev = _prev_char(text, pos)
    if prev == ":" and _CASE_RE.search(text, max(0, pos - 200), pos):
        return "b"
    if not prev or prev in _BEFORE_OBJECT:
        return "o"
    if _CLASS_HEAD_RE.search(text, max(0, pos - 200), pos):
        return "c"
    m = _TAIL_WORD_RE.search(text, max(0, pos - 16), pos)
    return "o" if m and m.group(1) in _OBJECT_KEYWORDS else "b"


def _replacement(text: str, start: int, end: int, name: str, inside: str) -> str | None:
    """What the name at text[start:end] becomes (None: left alone), see the module docstring;
    inside is what the innermost bracket opened ("o", "c", "b", "(" or "[")."""
    prev = _prev_char(text, start)
    spread = prev == "." and text[max(0, start - 3):start].rstrip().endswith("...")
    if prev == "." and not spread:  # a property: only the window's or the document's location
        if name == "location" and _OWNER_RE.search(text, max(0, start - _LOOKBACK), start):
            return GUARDED_LOCATION
        return None
    after = _next_char(text, end)
    key = after == ":" and prev in ("{", ",") and inside == "o"
    member = inside == "c" and prev not in _CLASS_EXPRESSION
    if key or member or after == "(":  # a key, a class member, a method or a call
        return None
    if name == "this":
        m = _THIS_MEMBER_RE.match(text, end)
        if m and m.group(1) not in GUARDED_NAMES:
            return None  # this.name: the common case, never the window's location
        return f"{CHECK_THIS}(this)"
    new = GUARDED_NAMES[name]
    if inside == "o" and prev in ("{", ",") and after in (",", "}", "="):
        return f"{name}: {new}"  # a shorthand property keeps its key
    return new


def rewrite_script(text: str) -> str:
    """The script with its references to the window and its location made the guarded ones."""
    out: list[str] = []
    stack: list[str] = []
    done = pos = 0
    while (m := _TOKEN_RE.search(text, pos)) is not None:
        pos = m.end()
        kind = m.lastgroup
        if kind == "slash":
            if _starts_regex(text, m.start()):
                literal = _REGEX_LITERAL_RE.match(text, m.start())
                if literal:
                    pos = literal.end()
        elif kind == "open":
            stack.append(_brace_kind(text, m.start()) if m.group() == "{" else m.group())
        elif kind == "close":
            if stack:
                stack.pop()
        elif kind == "name":
            new = _replacement(text, m.start(), m.end(), m.group(), stack[-1] if stack else "b")
            if new is not None:
                out += (text[done:m.start()], new)
                done = m.end()
    out.append(text[done:])
    return "".join(out)
