"""Full-text search over archived pages, one interface over two engines: SQLite FTS5 (bm25 over
title, URL and main text) and PostgreSQL (a weighted tsvector with a GIN index, ts_rank_cd).
Results are ranked, carry a snippet with the matched words marked, and filter by URL prefix or
host, capture time and role."""

from __future__ import annotations

import re
from collections.abc import Callable
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
# PostgreSQL ranks at most this many matches (the newest) after the title tier: ts_rank_cd over
# 15,000 matches took ~1 s at 100,000 pages (benchmarks/search_bench.py).
_PG_CANDIDATES = 2000
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
_SNIPPET_CHARS = 240
_MAX_MARKS = 500  # matches looked at for the best window


def _stem(word: str) -> str:
    w = word.lower()
    return _SUFFIX_RE.sub("", w) if len(w) > 4 else w


def _matcher(items: list[tuple[bool, list[str]]]) -> tuple[list[str], re.Pattern[str]]:
    """The query's stems, longest first, and the pattern finding words that start with one."""
    stems = sorted({_stem(w) for _, words in items for w in words}, key=len, reverse=True)
    return stems, re.compile(r"\b(?:" + "|".join(re.escape(st) for st in stems) + r")\w*", re.I)


def _py_snippet(text: str, matcher: tuple[list[str], re.Pattern[str]]) -> str:
    """About 240 characters of `text` around the place where most query words occur, each
    occurrence marked. Words match by a crude stem, as the engines' stemmed indexes do. Made
    here, not by the engines: FTS5's snippet() and PostgreSQL's ts_headline tokenize every hit's
    whole document again (0.25 ms and 2 ms a page, benchmarks/search_bench.py); one regular
    expression scan is a tenth of that."""
    stems, pattern = matcher
    body = text[:_HEADLINE_CHARS]
    found = list(pattern.finditer(body))[:_MAX_MARKS]
    start = 0
    if found:
        # The window (sliding over the matches) holding the most distinct query words.
        keys = [next((st for st in stems if m.group().lower().startswith(st)), "") for m in found]
        counts: dict[str, int] = {}
        best, j, span = -1, 0, _SNIPPET_CHARS - 60
        for i, m in enumerate(found):
            while j < len(found) and found[j].start() < m.start() + span:
                counts[keys[j]] = counts.get(keys[j], 0) + 1
                j += 1
            if len(counts) > best:
                best, start = len(counts), max(0, m.start() - 40)
            counts[keys[i]] -= 1
            if not counts[keys[i]]:
                del counts[keys[i]]
        if start:
            space = body.find(" ", start)
            start = space + 1 if 0 <= space < start + 30 else start
    end = min(len(body), start + _SNIPPET_CHARS)
    if end < len(body):
        space = body.rfind(" ", start, end)
        end = space if space > start + _SNIPPET_CHARS // 2 else end
    pieces, last = [], start
    for m in found:
        if m.start() >= start and m.end() <= end:
            pieces += [body[last:m.start()], _OPEN, m.group(), _CLOSE]
            last = m.end()
    pieces.append(body[last:end])
    return ("… " if start else "") + "".join(pieces) + (" …" if end < len(text) else "")


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


def _two_tiers(
    rank: Callable[[str, int], list[tuple[int, float]]], first: str, every: str, query: SearchQuery
) -> list[tuple[int, float]]:
    """(id, score) of one page of results: pages whose title holds every word first, then the
    others, each tier by the engine's relevance. Ranking scores every match, which costs time in
    proportion to the matches (tens of ms for a word on 15,000 of 100,000 pages,
    benchmarks/search_bench.py); the title tier is small, and answers most first pages alone."""
    want = query.offset + query.limit
    top = rank(first, want)
    if len(top) < want:
        seen = {i for i, _ in top}
        top += [hit for hit in rank(every, want + len(top)) if hit[0] not in seen][:want - len(top)]
    return top[query.offset:want]


def _sqlite(session: Session, query: SearchQuery, items: list[tuple[bool, list[str]]]) -> list[SearchHit]:
    match = _fts5_query(items)
    params: dict[str, Any] = {}
    filters = _filters(query, params, pg=False)
    # Without filters the ranking reads the full-text index alone, then the hits' rows.
    ranked = "SELECT pages_fts.rowid AS id, bm25(pages_fts, 10.0, 3.0, 1.0) AS score FROM pages_fts"
    if filters:
        ranked += " JOIN pages p ON p.capture_id = pages_fts.rowid"
    ranked += f" WHERE {' AND '.join(['pages_fts MATCH :match', *filters])} ORDER BY score LIMIT :n"

    def rank(expr: str, n: int) -> list[tuple[int, float]]:
        rows = session.execute(text(ranked), {**params, "match": expr, "n": n}).all()
        return [(int(r[0]), -float(r[1])) for r in rows]

    title = f"title : ({match})"
    ids = _two_tiers(rank, title, match, query)
    if not ids:
        return []
    return _hits(session, ids, items, "substr(p.text, 1, :n)")


def _pg_tsquery(items: list[tuple[bool, list[str]]], weight: str = "") -> str:
    """to_tsquery input: words and phrases (<->) ANDed; only letters and digits reach it, so no
    operator of the user's can."""
    parts = [" <-> ".join(w + weight for w in words) if phrase else " & ".join(w + weight for w in words)
             for phrase, words in items]
    return " & ".join(f"({p})" for p in parts)


def _postgres(session: Session, query: SearchQuery, items: list[tuple[bool, list[str]]]) -> list[SearchHit]:
    params: dict[str, Any] = {"q": _pg_tsquery(items), "cap": _PG_CANDIDATES}
    filters = _filters(query, params, pg=True)
    title = "to_tsvector('english', coalesce(p.title, '')) @@ to_tsquery('english', :q)"
    every = " AND ".join(["p.search @@ to_tsquery('english', :q)", *filters])
    # ts_rank_cd reads every candidate's whole tsvector (TOASTed): the title tier is found by
    # its own small index, and the second tier ranks the newest matches only.
    tiers = {
        "title": f"SELECT p.capture_id FROM pages p WHERE {' AND '.join([title, *filters])}",
        "every": f"SELECT p.capture_id FROM pages p WHERE {every} ORDER BY p.capture_id DESC LIMIT :cap",
    }

    def rank(tier: str, n: int) -> list[tuple[int, float]]:
        rows = session.execute(text(
            "SELECT p.capture_id, ts_rank_cd(p.search, to_tsquery('english', :q), 1) AS score "
            f"FROM pages p WHERE p.capture_id IN ({tiers[tier]}) "
            "ORDER BY score DESC, p.timestamp DESC LIMIT :n"
        ), {**params, "n": n}).all()
        return [(int(r[0]), float(r[1])) for r in rows]

    ids = _two_tiers(rank, "title", "every", query)
    if not ids:
        return []
    return _hits(session, ids, items, "left(p.text, :n)")


def _hits(
    session: Session, ids: list[tuple[int, float]], items: list[tuple[bool, list[str]]], head: str
) -> list[SearchHit]:
    """The hits' rows, and snippets from the start of their text (`head` reads it)."""
    rows = {r.capture_id: r for r in session.execute(text(
        f"SELECT {_COLUMNS}, {head} AS head FROM pages p "
        f"WHERE p.capture_id IN ({', '.join(str(i) for i, _ in ids)})"
    ), {"n": _HEADLINE_CHARS})}
    matcher = _matcher(items)
    return [_hit(rows[i], score, _py_snippet(rows[i].head or "", matcher)) for i, score in ids if i in rows]


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
