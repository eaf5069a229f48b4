"""Rewriting of archived scripts at replay time so that their `location` is the archive's stand-in.

Why: a replayed page's own script that sets `location.href = "https://live..."` would take the
window to the live web: `Location` is unforgeable and Chromium ignores the Navigation API's
preventDefault in the replay sandbox, so the only place to stop it is the script text. As the
Wayback Machine's and pywb's older location rewriter did (our own code, same idea: rename, do not
wrap), every reference to the window's location is renamed to `__cvLocation`, which the frame
guard (web/static/replay-guard.js) defines on the window and the document: reads give the archived
URL's parts, writes (href, assign, replace, `location = ...`) go to `/web/<ts>/<url>`.

What is renamed: the bare identifier `location` (so `location = x`, `location.href`, a local
`var location` alike: renamed consistently, scoping is unchanged) and `.location` after `window`,
`self`, `top`, `parent`, `globalThis` or `document` (also with `?.`). Strings, comments, template
literals and regular-expression literals are left alone, so are `obj.location` of any other
object, object keys (`{location: 1}`) and method names (`location() {}`).

Not covered (known): computed access (`window["loc" + "ation"]`, `window[k]`), `this.location` at
the top level, a `location` reached through another window object (`frames[0]`, `w = window;
w.location`), destructuring (`const {location: l} = window`), code inside template `${...}`,
`javascript:` URLs percent-encoding the name. No `with` and no block wrapping, so strict mode and
modules are unchanged. In the browser the guard applies the same rules (its port, rewriteScript)
to setTimeout/setInterval strings, `javascript:` URLs, script text set at run time and
`new Function` code; direct eval code naming location is refused by Chromium (EvalError), since
a Trusted Types default policy may not change eval code.
"""

from __future__ import annotations

import re

__all__ = ["GUARDED_LOCATION", "JS_TYPES", "rewrite_script"]

GUARDED_LOCATION = "__cvLocation"
# Content types of scripts (RFC 9239 and the legacy ones browsers still run).
JS_TYPES = frozenset(
    "application/javascript text/javascript application/x-javascript application/ecmascript "
    "text/ecmascript text/jscript text/x-javascript module".split()
)
_OWNERS = r"window|self|top|parent|globalThis|document"
# One scan: what must be skipped whole (comments, strings, templates), a slash that may open a
# regular expression, and the name itself.
_TOKEN_RE = re.compile(
    r"""//[^\n\r]*|/\*.*?(?:\*/|\Z)
      |"(?:[^"\\\n]|\\.)*"?|'(?:[^'\\\n]|\\.)*'?|`(?:[^`\\]|\\.)*`?
      |(?P<slash>/)
      |(?<![\w$])(?P<loc>location)(?![\w$])""",
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


def _renamed(text: str, start: int, end: int) -> bool:
    """Whether the `location` at text[start:end] is the window's (see the module docstring)."""
    prev = _prev_char(text, start)
    if prev == ".":
        return _OWNER_RE.search(text, max(0, start - _LOOKBACK), start) is not None
    after = _next_char(text, end)
    if after == "(":  # a method named location (a Location is never called)
        return False
    return not (after == ":" and prev in ("{", ","))  # an object key


def rewrite_script(text: str) -> str:
    """The script with its references to the window's location renamed to the guarded one."""
    if "location" not in text:
        return text
    out: list[str] = []
    done = pos = 0
    while (m := _TOKEN_RE.search(text, pos)) is not None:
        pos = m.end()
        if m.group("slash") is not None:
            if _starts_regex(text, m.start()):
                literal = _REGEX_LITERAL_RE.match(text, m.start())
                if literal:
                    pos = literal.end()
        elif m.group("loc") is not None and _renamed(text, m.start(), m.end()):
            out += (text[done:m.start()], GUARDED_LOCATION)
            done = m.end()
    out.append(text[done:])
    return "".join(out)
