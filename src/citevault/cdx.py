"""The CDX server API over the SQL index: the query language of the Wayback CDX server and pywb
(url with matchType or `*` wildcards, from/to, limit, sort=closest|reverse, fl, filter, collapse)
and its output formats (CDXJ lines, Wayback JSON, plain text). Framework-free.

Every lookup goes through the (surt, timestamp) index: an exact URL is an equality on `surt`,
a prefix, host or domain is a range of SURT keys (`key <= surt < successor(key)`). SURT ranges
must compare code points, so on PostgreSQL they use `COLLATE "C"` and its own index, which
holds the whole answer order (migration p_cdx5_surt_c_ts_id); SQLite's default BINARY collation
already compares code points.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session
from warcio.timeutils import timestamp_to_sec

from citevault.storage.errors import BadInput
from citevault.storage.index import now_timestamp, parse_timestamp, surt_key

from .cdxsql import CdxRow, Rows, stream

__all__ = [
    "FIELDS",
    "MAX_ROWS",
    "CdxQuery",
    "CdxRow",
    "parse_query",
    "query_rows",
    "render",
]

# A query answers at most this many rows (the Wayback CDX server caps its answers too).
MAX_ROWS = 100_000
# pywb's field names (used in CDXJ) and the Wayback CDX server's aliases of them.
FIELDS = ("urlkey", "timestamp", "url", "mime", "status", "digest", "length", "offset", "filename",
          "redirect", "robotflags")
_ALIASES = {"original": "url", "mimetype": "mime", "statuscode": "status"}
_WAYBACK_DEFAULT = ["urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length"]
_CDXJ_DEFAULT = ["url", "mime", "status", "digest", "length", "offset", "filename"]
_MATCH_TYPES = ("exact", "prefix", "host", "domain")
_OUTPUTS = {"cdxj": "text/x-cdxj; charset=utf-8", "json": "application/json",
            "text": "text/plain; charset=utf-8", "cdx": "text/plain; charset=utf-8"}
_PAD_UP = "99991231235959"



def _canonical(name: str) -> str:
    name = _ALIASES.get(name, name)
    if name not in FIELDS:
        raise BadInput(f"unknown CDX field {name!r}; known: {', '.join(FIELDS + tuple(_ALIASES))}")
    return name


@dataclass(frozen=True)
class _Filter:
    """`[!][~|=]field:pattern`: regex full match (Wayback), `~` contains, `=` equals; `!` negates."""

    field: str
    mode: str
    pattern: str
    negate: bool
    regex: re.Pattern[str] | None

    @classmethod
    def parse(cls, text: str) -> _Filter:
        spec, negate = (text[1:], True) if text.startswith("!") else (text, False)
        mode = spec[0] if spec[:1] in ("~", "=") else "regex"
        spec = spec[1:] if mode != "regex" else spec
        name, sep, pattern = spec.partition(":")
        if not sep:
            raise BadInput(f"bad filter {text!r}: want [!][~]field:pattern")
        regex = None
        if mode == "regex":
            try:
                regex = re.compile(pattern)
            except re.error as exc:
                raise BadInput(f"bad filter regex {pattern!r}: {exc}") from exc
        return cls(_canonical(name), mode, pattern, negate, regex)

    def __call__(self, row: CdxRow) -> bool:
        value = row.get(self.field) or "-"
        if self.regex is not None:
            hit = self.regex.fullmatch(value) is not None
        elif self.mode == "~":
            hit = self.pattern in value
        else:
            hit = self.pattern == value
        return hit != self.negate


@dataclass
class CdxQuery:
    """A parsed CDX query. `ranges` are the SURT ranges for prefix/host/domain matches."""

    url: str
    match_type: str = "exact"
    key: str = ""
    ranges: list[tuple[str, str]] = field(default_factory=list)
    from_ts: str | None = None
    to_ts: str | None = None
    limit: int | None = None
    sort: str = "default"  # default|closest|reverse
    closest: str | None = None
    output: str = "cdxj"
    fields: list[str] | None = None  # as the client named them
    filters: list[_Filter] = field(default_factory=list)
    collapse: list[tuple[str, int | None]] = field(default_factory=list)

    @property
    def media_type(self) -> str:
        return _OUTPUTS[self.output]


def _one(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name) or []
    return values[-1] if values else None


def _succ(key: str) -> str:
    """The smallest string greater than every string starting with `key`."""
    return key[:-1] + chr(ord(key[-1]) + 1)


def _pad_up(ts: str) -> str:
    if not ts.isdigit() or len(ts) > 14:
        raise BadInput(f"bad timestamp {ts!r}: want 1 to 14 digits, YYYYMMDDhhmmss")
    return ts + _PAD_UP[len(ts):]


def _match(url: str, match_type: str) -> tuple[str, str, list[tuple[str, str]]]:
    """(match type, SURT key, SURT ranges) of a url parameter, wildcards taken into account."""
    u = url.strip()
    if u.startswith("*."):
        match_type, u = "domain", u[2:]
    elif u.endswith("*"):
        match_type, u = "prefix", u[:-1]
    if match_type not in _MATCH_TYPES:
        raise BadInput(f"bad matchType {match_type!r}: want one of {', '.join(_MATCH_TYPES)}")
    if not u:
        raise BadInput("the url parameter is required")
    if "://" not in u:
        u = "http://" + u
    if match_type in ("host", "domain"):
        try:
            host = urlsplit(u).netloc.rsplit("@", 1)[-1]
        except ValueError as exc:
            raise BadInput(f"bad url {url!r}: {exc}") from exc
        if not host:
            raise BadInput(f"bad url {url!r}: no host")
        hostkey = surt_key(f"http://{host}/")
        if match_type == "host":
            return match_type, hostkey, [(hostkey, _succ(hostkey))]
        bare = hostkey.split(")", 1)[0]
        # The domain itself ("com,example)...") sorts before its subdomains ("com,example,...").
        return match_type, bare, [(bare + ")", bare + "*"), (bare + ",", bare + "-")]
    key = surt_key(u)
    if match_type == "prefix":
        return match_type, key, [(key, _succ(key))]
    return match_type, key, []


def parse_query(params: Mapping[str, Sequence[str]]) -> CdxQuery:
    """A CdxQuery from request parameters (each name mapped to its values); BadInput if invalid."""
    url = _one(params, "url")
    if not url:
        raise BadInput("the url parameter is required")
    match_type, key, ranges = _match(url, _one(params, "matchType") or "exact")
    q = CdxQuery(url=url, match_type=match_type, key=key, ranges=ranges)
    if v := _one(params, "from"):
        q.from_ts = parse_timestamp(v)
    if v := _one(params, "to"):
        q.to_ts = _pad_up(v)
    if v := _one(params, "limit"):
        try:
            q.limit = int(v)
        except ValueError as exc:
            raise BadInput(f"bad limit {v!r}: want an integer") from exc
    sort = _one(params, "sort") or ""
    if sort not in ("", "closest", "reverse"):
        raise BadInput(f"bad sort {sort!r}: want closest or reverse")
    closest = _one(params, "closest")
    if sort == "closest" or (closest and sort != "reverse"):
        q.sort = "closest"
        q.closest = parse_timestamp(closest) if closest else now_timestamp()
    elif sort == "reverse":
        q.sort = "reverse"
    output = (_one(params, "output") or "cdxj").lower()
    if output not in _OUTPUTS:
        raise BadInput(f"bad output {output!r}: want one of {', '.join(_OUTPUTS)}")
    q.output = output
    if v := _one(params, "fl"):
        names = [n.strip() for n in v.split(",") if n.strip()]
        for n in names:
            _canonical(n)
        q.fields = names or None
    q.filters = [_Filter.parse(f) for f in params.get("filter") or [] if f]
    for c in params.get("collapse") or []:
        name, _, n = c.partition(":")
        try:
            width = int(n) if n else None
        except ValueError as exc:
            raise BadInput(f"bad collapse {c!r}: want field or field:N") from exc
        q.collapse.append((_canonical(name), width))
    return q


# -- running a query (its SQL: cdxsql.py) -----------------------------------------------------
def _seconds(ts: str) -> int:
    return int(timestamp_to_sec(ts))


def _by_distance(before: Iterator[CdxRow], after: Iterator[CdxRow], target: str) -> Rows:
    """Merge two streams, each ordered away from `target`, into one ordered by distance."""
    t = _seconds(target)

    def dist(row: CdxRow) -> int:
        return abs(_seconds(row["timestamp"] or target) - t)

    b, a = next(before, None), next(after, None)
    while b is not None or a is not None:
        if a is None or (b is not None and dist(b) <= dist(a)):
            assert b is not None
            yield b
            b = next(before, None)
        else:
            yield a
            a = next(after, None)


def _collapsed(rows: Iterator[CdxRow], collapse: list[tuple[str, int | None]]) -> Rows:
    """Drop a row when each collapse field (or its first N characters) equals the previous row's."""
    last: tuple[str, ...] | None = None
    for row in rows:
        token = tuple((row.get(f) or "-")[:n] if n else (row.get(f) or "-") for f, n in collapse)
        if token != last:
            yield row
        last = token


def _pushed_down(f: _Filter) -> bool:
    """Whether a filter is a status filter with a literal code (the common `statuscode:200`),
    which is done in SQL too, so a filtered scan is not done row by row in Python."""
    return f.field == "status" and f.pattern.isdigit() and f.mode != "~"


def query_rows(session: Session, q: CdxQuery) -> list[CdxRow]:
    """The rows answering `q`, in answer order (closest first for sort=closest)."""
    conn = session.connection()
    pg = conn.dialect.name == "postgresql"
    params: dict[str, Any] = {"from": q.from_ts, "to": q.to_ts, "ts": q.closest}
    pushed = [f for f in q.filters if _pushed_down(f)]
    params |= {f"status{i}": int(f.pattern) for i, f in enumerate(pushed)}
    common = ((q.from_ts is not None, q.to_ts is not None), tuple(f.negate for f in pushed))
    if q.match_type == "exact":
        params["key"] = q.key
    else:
        for i, (lo, hi) in enumerate(q.ranges):
            params |= {f"lo{i}": lo, f"hi{i}": hi}
    python_side = bool(q.filters or q.collapse)
    want = MAX_ROWS if q.limit is None else min(abs(q.limit), MAX_ROWS)
    sql_limit = None if python_side else want

    ranges = len(q.ranges)
    if q.sort == "closest":
        assert q.closest is not None
        before = stream(conn, (pg, ranges, False, "before", True, *common), params, sql_limit)
        after = stream(conn, (pg, ranges, False, "after", False, *common), params, sql_limit)
        rows: Rows = _by_distance(before, after, q.closest)
    else:
        newest_first = q.sort == "reverse" or (q.limit is not None and q.limit < 0)

        def chained() -> Rows:
            # One statement per SURT range, each range's bounds bound as lo0/hi0.
            scopes = [params] if not ranges else [
                params | {"lo0": lo, "hi0": hi} for lo, hi in q.ranges]
            shape = (pg, min(ranges, 1), bool(ranges), "", newest_first, *common)
            for scope in (reversed(scopes) if newest_first else scopes):
                yield from stream(conn, shape, scope, sql_limit)

        rows = chained()
    if q.filters:
        rows = (r for r in rows if all(f(r) for f in q.filters))
    if q.collapse:
        rows = _collapsed(rows, q.collapse)
    out: list[CdxRow] = []
    try:
        for r in rows:
            out.append(r)
            if len(out) >= want:
                break
    finally:
        rows.close()
    if q.sort != "closest" and q.sort != "reverse" and q.limit is not None and q.limit < 0:
        out.reverse()  # the last N, in ascending order
    return out


# -- rendering ---------------------------------------------------------------------------------
def render(rows: list[CdxRow], q: CdxQuery) -> str:
    """The response body for `rows` in the query's output format."""
    if q.output == "cdxj":
        names = [_canonical(n) for n in q.fields] if q.fields else _CDXJ_DEFAULT
        lines = []
        for r in rows:
            extra = {n: r[n] for n in names if n not in ("urlkey", "timestamp") and r.get(n) is not None}
            lines.append(f"{r['urlkey']} {r['timestamp']} {json.dumps(extra)}\n")
        return "".join(lines)
    names = q.fields or _WAYBACK_DEFAULT
    keys = [_canonical(n) for n in names]
    table = [[r.get(k) or "-" for k in keys] for r in rows]
    if q.output == "json":
        return json.dumps([names, *table] if table else [])
    return "".join(" ".join(v.replace(" ", "%20") for v in row) + "\n" for row in table)
