"""Full-text search over archived pages, one interface over two engines: SQLite FTS5 (bm25 over
title, URL and main text) and PostgreSQL (a weighted tsvector with a GIN index, ts_rank_cd).
Results are ranked, carry a snippet with the matched words marked, and filter by URL prefix or
host, capture time and role."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from .errors import BadInput
from .index import parse_timestamp, surt_key

__all__ = ["SearchHit", "SearchQuery", "search"]

# Match markers inside snippets: characters that never occur in extracted text, turned into
# offsets before a hit leaves this module.
_OPEN, _CLOSE = "\x02", "\x03"
_ROLES = ("seed", "cited", "requisite", "redirect")
_MAX_LIMIT = 1000
# ts_headline reads the whole document it highlights: a snippet is looked for in this much text.
_HEADLINE_CHARS = 50_000
_WORD_RE = re.compile(r"\w+", re.UNICODE)
_MARK_RE = re.compile(f"{_OPEN}(.*?){_CLOSE}", re.S)
_PHRASE_RE = re.compile(r'"([^"]*)"|(\S+)')


@dataclass
class SearchQuery:
    """What to look for: words (a "quoted phrase" must match as a phrase) and filters."""

    q: str
    url: str | None = None  # a URL prefix ("https://www.epa.test/newsroom/") or a host ("epa.test")
    since: str | None = None  # capture time from, 1-14 digits (YYYY[MM[DD...]])
    until: str | None = None  # capture time to, inclusive
    role: str | None = None  # seed|cited|requisite|redirect
    limit: int = 20
    offset: int = 0


@dataclass
class SearchHit:
    capture_id: int
    url: str
    timestamp: str
    role: str
    status: int | None
    kind: str
    title: str | None
    site: str | None
    published: str | None
    score: float
    snippet: str
    highlights: list[tuple[int, int]] = field(default_factory=list)  # [start, end) in snippet

    def as_json(self) -> dict[str, Any]:
        return {
            "capture_id": self.capture_id, "url": self.url, "timestamp": self.timestamp,
            "role": self.role, "status": self.status, "kind": self.kind, "title": self.title,
            "site": self.site, "published": self.published, "score": round(self.score, 6),
            "snippet": self.snippet, "highlights": [list(h) for h in self.highlights],
        }


def _marked(raw: str) -> tuple[str, list[tuple[int, int]]]:
    """Snippet text without the markers, and the spans they enclosed."""
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    pos = 0
    for i, part in enumerate(_MARK_RE.split(raw)):
        if i % 2 and part:
            spans.append((pos, pos + len(part)))
        out.append(part)
        pos += len(part)
    return "".join(out), spans


_SUFFIX_RE = re.compile(r"(?:ing|ed|es|s|ly|er|ers)$")
_SNIPPET_WORDS = 32


def _stem(word: str) -> str:
    w = word.lower()
    return _SUFFIX_RE.sub("", w) if len(w) > 4 else w


def _py_snippet(text: str, items: list[tuple[bool, list[str]]]) -> str:
    """A snippet with the query's words marked: the window of text holding most of them. Used
    where the engine's own is slow (PostgreSQL's ts_headline re-parses every document: ~2 ms
    each, measured in benchmarks/search_bench.py); words match by a crude stem, as the index's do."""
    stems = {_stem(w) for _, words in items for w in words}
    tokens = list(_WORD_RE.finditer(text[:_HEADLINE_CHARS]))
    hits = [i for i, m in enumerate(tokens) if _stem(m.group()) in stems]
    if not tokens:
        return ""
    best, start = -1, 0
    for h in hits or [0]:
        lo = max(0, h - 4)
        window = {_stem(tokens[j].group()) for j in hits if lo <= j < lo + _SNIPPET_WORDS}
        if len(window) > best:
            best, start = len(window), lo
    end = min(len(tokens), start + _SNIPPET_WORDS)
    marked = set(hits)
    pieces, last = [], tokens[start].start()
    for j in range(start, end):
        m = tokens[j]
        pieces.append(text[last:m.start()])
        pieces.append(f"{_OPEN}{m.group()}{_CLOSE}" if j in marked else m.group())
        last = m.end()
    return ("… " if start else "") + "".join(pieces) + (" …" if end < len(tokens) else "")


def _terms(q: str) -> list[tuple[bool, list[str]]]:
    """The query as (is_phrase, words) items; words keep letters and digits only."""
    items = []
    for m in _PHRASE_RE.finditer(q):
        words = _WORD_RE.findall(m.group(1) if m.group(1) is not None else m.group(2))
        if words:
            items.append((m.group(1) is not None and len(words) > 1, words))
    return items


def _fts5_query(items: list[tuple[bool, list[str]]]) -> str:
    """An FTS5 MATCH expression: every word (or phrase) must occur; input syntax never leaks in."""
    parts = []
    for phrase, words in items:
        if phrase:
            parts.append('"' + " ".join(words) + '"')
        else:
            parts.extend(f'"{w}"' for w in words)
    return " AND ".join(parts)


def _ts_range(value: str | None, *, end: bool) -> str | None:
    """A capture-time bound: 1-14 digits (dashes, colons, "T" and spaces of ISO dates ignored),
    widened to the start of that period, or to its end for an upper bound."""
    if not value:
        return None
    digits = re.sub(r"[-:T ]", "", value.strip())
    full = parse_timestamp(digits)  # BadInput for anything else
    return digits.ljust(14, "9") if end else full


def _filters(query: SearchQuery, params: dict[str, Any], *, pg: bool) -> list[str]:
    where: list[str] = []
    if query.url:
        value = query.url.strip()
        coll = ' COLLATE "C"' if pg else ""
        if "://" in value:
            params["surt_prefix"] = surt_key(value)
            where.append(f"p.surt{coll} >= :surt_prefix AND p.surt{coll} < :surt_end")
        else:  # a host: itself and its subdomains
            host = surt_key("http://" + value.strip("/").split("/")[0]).split(")")[0]
            params["surt_prefix"] = host + ")"
            params["surt_sub"] = host + ","
            params["surt_sub_end"] = host + "-"  # "," + 1
            where.append(
                f"((p.surt{coll} >= :surt_prefix AND p.surt{coll} < :surt_end) OR "
                f"(p.surt{coll} >= :surt_sub AND p.surt{coll} < :surt_sub_end))"
            )
        params["surt_end"] = params["surt_prefix"] + "\U0010ffff"
    if (since := _ts_range(query.since, end=False)) is not None:
        params["since"] = since
        where.append("p.timestamp >= :since")
    if (until := _ts_range(query.until, end=True)) is not None:
        params["until"] = until
        where.append("p.timestamp <= :until")
    if query.role:
        if query.role not in _ROLES:
            raise BadInput(f"bad role {query.role!r}: want one of {', '.join(_ROLES)}")
        params["role"] = query.role
        where.append("p.role = :role")
    return where


def _check(query: SearchQuery) -> list[tuple[bool, list[str]]]:
    items = _terms(query.q or "")
    if not items:
        raise BadInput("empty search: give at least one word")
    if not 1 <= query.limit <= _MAX_LIMIT:
        raise BadInput(f"bad limit {query.limit}: want 1 to {_MAX_LIMIT}")
    if query.offset < 0:
        raise BadInput(f"bad offset {query.offset}")
    return items


_COLUMNS = "p.capture_id, p.url, p.timestamp, p.role, p.status, p.kind, p.title, p.site, p.published"


def _sqlite(session: Session, query: SearchQuery, items: list[tuple[bool, list[str]]]) -> list[SearchHit]:
    params: dict[str, Any] = {"match": _fts5_query(items), "limit": query.limit, "offset": query.offset}
    filters = _filters(query, params, pg=False)
    # Rank first, snippets after: snippet() costs a document read, so only the hits shown pay it.
    # Without filters the ranking reads the full-text index alone, then the hits' rows.
    ranked = "SELECT pages_fts.rowid AS id, bm25(pages_fts, 10.0, 3.0, 1.0) AS score FROM pages_fts"
    if filters:
        ranked += " JOIN pages p ON p.capture_id = pages_fts.rowid"
    ranked += f" WHERE {' AND '.join(['pages_fts MATCH :match', *filters])}"
    rows = session.execute(text(
        f"SELECT {_COLUMNS}, r.score FROM ({ranked} ORDER BY score LIMIT :limit OFFSET :offset) r "
        "JOIN pages p ON p.capture_id = r.id ORDER BY r.score, p.timestamp DESC"
    ), params).all()
    if not rows:
        return []
    ids = [r.capture_id for r in rows]
    snippets: dict[int, str] = dict((r[0], r[1]) for r in session.execute(text(
        "SELECT rowid, snippet(pages_fts, -1, :o, :c, ' … ', 32) FROM pages_fts "
        f"WHERE pages_fts MATCH :match AND rowid IN ({', '.join(str(int(i)) for i in ids)})"
    ), {"match": params["match"], "o": _OPEN, "c": _CLOSE}).all())
    return [_hit(r, -float(r.score), snippets.get(r.capture_id) or "") for r in rows]


def _pg_tsquery(items: list[tuple[bool, list[str]]]) -> str:
    """Input for websearch_to_tsquery: words and "phrases", operators stripped."""
    return " ".join('"' + " ".join(w) + '"' if phrase else " ".join(w) for phrase, w in items)


def _postgres(session: Session, query: SearchQuery, items: list[tuple[bool, list[str]]]) -> list[SearchHit]:
    params: dict[str, Any] = {"q": _pg_tsquery(items), "limit": query.limit, "offset": query.offset}
    where = ["p.search @@ websearch_to_tsquery('english', :q)", *_filters(query, params, pg=True)]
    rows = session.execute(text(
        f"SELECT {_COLUMNS}, ts_rank_cd(p.search, websearch_to_tsquery('english', :q), 1) AS score "
        f"FROM pages p WHERE {' AND '.join(where)} "
        f"ORDER BY score DESC, p.timestamp DESC LIMIT :limit OFFSET :offset"
    ), params).all()
    if not rows:
        return []
    ids = [r.capture_id for r in rows]
    texts = dict((r[0], r[1]) for r in session.execute(text(
        "SELECT capture_id, left(text, :n) FROM pages WHERE capture_id = ANY(:ids)"
    ), {"n": _HEADLINE_CHARS, "ids": ids}))
    snippets = {cid: _py_snippet(t or "", items) for cid, t in texts.items()}
    return [_hit(r, float(r.score), snippets.get(r.capture_id) or "") for r in rows]


def _hit(row: Any, score: float, raw: str) -> SearchHit:
    snippet, spans = _marked(" ".join(raw.split()))
    return SearchHit(
        capture_id=row.capture_id, url=row.url, timestamp=row.timestamp, role=row.role, status=row.status,
        kind=row.kind, title=row.title, site=row.site, published=row.published, score=score,
        snippet=snippet, highlights=spans,
    )


def search(session: Session, query: SearchQuery) -> list[SearchHit]:
    """The pages matching every word of the query, best first (ties: newest capture first)."""
    items = _check(query)
    if session.get_bind().dialect.name == "postgresql":
        return _postgres(session, query, items)
    return _sqlite(session, query, items)
