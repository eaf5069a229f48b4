"""Full-text search over archived pages, one interface over two engines: SQLite FTS5 (bm25 over
title, URL and main text) and PostgreSQL (a weighted tsvector with a GIN index, ts_rank_cd, and a
GIN index of adjacent word pairs for phrases).
Results are ranked, carry a snippet with the matched words marked, and filter by URL prefix or
host, capture time and role."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from .errors import BadInput
from .index import parse_timestamp, surt_key
from .snippet import HEAD_CHARS, Snippets

__all__ = ["SearchHit", "SearchQuery", "search"]

_ROLES = ("seed", "cited", "requisite", "redirect")
_MAX_LIMIT = 1000
# Each ranking tier scores at most this many matches, the newest (see _two_tiers). PostgreSQL
# reads a TOASTed tsvector of ~5 KB per scored page (15-40 us each, most of a ranked query's
# time once candidates come from page_terms: 300 made p50 13.7 / p99 54 ms, 150 made 9.2 / 31.5
# on the 100,000-page benchmark), FTS5 a doclist entry and a docsize row.
_CANDIDATES = 1000
_PG_CANDIDATES = 150
_WORD_RE = re.compile(r"\w+", re.UNICODE)
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
    rank: Callable[[str, int, int], list[tuple[int, float]]], first: str, every: str, query: SearchQuery,
    items: list[tuple[bool, list[str]]], candidates: int,
) -> list[tuple[int, float]]:
    """(id, score) of one page of results: pages whose title holds every word first, then the
    others. `rank(tier, n, cap)` answers a tier's best n: by the engine's relevance among its
    newest `cap` matches, or newest first where cap is 0. Scoring every match costs time in
    proportion to the matches (150-500 ms for a word on 15,000-60,000 of 100,000 pages,
    benchmarks/search_bench.py), so a query matching more pages than the cap ranks the newest
    `cap` (and pages through those). A query with a phrase lists its matches newest first,
    unscored (score 0): bm25 needs the phrase's frequency over the whole index, which evaluates
    the phrase everywhere (20-70 ms for a phrase of common words such as "of all in", against
    0.1-12 ms for its newest 20)."""
    want = query.offset + query.limit
    # The cap does not grow with the offset: every page of results comes from one candidate set.
    cap = 0 if any(phrase for phrase, _ in items) else max(candidates, query.limit)
    top = rank(first, want, cap)
    if len(top) < want:
        seen = {i for i, _ in top}
        top += [hit for hit in rank(every, want + len(top), cap) if hit[0] not in seen][:want - len(top)]
    return top[query.offset:want]


def _sqlite(session: Session, query: SearchQuery, items: list[tuple[bool, list[str]]]) -> list[SearchHit]:
    params: dict[str, Any] = {"match": _fts5_query(items)}
    filters = _filters(query, params, pg=False)
    # The newest matches come straight off a full-text index (FTS5 walks its doclists in rowid
    # order and stops at the cap), bm25 scores those only, the outer query sorts them. Without
    # filters the ranking reads the full-text index alone, then the hits' rows. The title tier
    # has its own index of titles (and ranks by the title alone).
    tiers = {"pages_title_fts": "bm25(pages_title_fts)", "pages_fts": "bm25(pages_fts, 10.0, 3.0, 1.0)"}

    def rank(table: str, n: int, cap: int) -> list[tuple[int, float]]:
        join = f" JOIN pages p ON p.capture_id = {table}.rowid" if filters else ""
        newest = (f"FROM {table}{join} WHERE {' AND '.join([f'{table} MATCH :match', *filters])} "
                  f"ORDER BY {table}.rowid DESC LIMIT :cap")
        sql = (f"SELECT id, score FROM (SELECT {table}.rowid AS id, {tiers[table]} AS score {newest}) "
               "ORDER BY score, id DESC LIMIT :n") if cap else f"SELECT {table}.rowid, 0.0 {newest}"
        rows = session.execute(text(sql), {**params, "n": n, "cap": cap or n}).all()
        return [(int(r[0]), -float(r[1])) for r in rows]

    ids = _two_tiers(rank, "pages_title_fts", "pages_fts", query, items, _CANDIDATES)
    if not ids:
        return []
    return _hits(session, ids, items, "substr(p.text, 1, :n)")


def _pg_tsquery(items: list[tuple[bool, list[str]]], weight: str = "") -> str:
    """to_tsquery input: words and phrases (<->) ANDed; only letters and digits reach it, so no
    operator of the user's can."""
    parts = [" <-> ".join(w + weight for w in words) if phrase else " & ".join(w + weight for w in words)
             for phrase, words in items]
    return " & ".join(f"({p})" for p in parts)


# Planner settings for the ranking queries (restored after them). Candidates come from the GIN
# index as a bitmap, never from walking the primary key backwards with `search @@ q` as a filter:
# the planner prices that filter as cheap, but each row it reads costs a TOASTed tsvector
# (~10 us), and a LIMIT made it walk 8,000 rows for a two-word query (125 ms) and all 100,000
# for a phrase of common words (1.1 s), EXPLAIN ANALYZE at 100,000 pages. A JIT compile (tens of
# ms) or parallel workers cost more than these small queries save.
_PG_SETTINGS = {"enable_indexscan": "off", "enable_seqscan": "off", "jit": "off",
                "max_parallel_workers_per_gather": "0"}


@contextmanager
def _pg_planner(session: Session) -> Iterator[None]:
    names = list(_PG_SETTINGS)
    before = session.execute(text("SELECT " + ", ".join(
        f"current_setting('{k}'), set_config('{k}', '{v}', true)" for k, v in _PG_SETTINGS.items()
    ))).one()
    try:
        yield
    finally:
        session.execute(text("SELECT " + ", ".join(
            f"set_config('{k}', :v{i}, true)" for i, k in enumerate(names)
        )), {f"v{i}": before[2 * i] for i in range(len(names))})


def _pg_pairs(session: Session, items: list[tuple[bool, list[str]]]) -> list[str]:
    """The adjacent-word pairs the query's phrases need (migration p_search3_terms), as the
    database's own parser and stemmer make them: none for a phrase of one word and stop words."""
    phrases = [" ".join(words) for phrase, words in items if phrase]
    if not phrases:
        return []
    pairs = session.execute(text("SELECT " + " || ".join(
        f"citevault_word_pairs(to_tsvector('english', :p{i}))" for i in range(len(phrases))
    )), {f"p{i}": p for i, p in enumerate(phrases)}).scalar()
    return list(pairs or [])


def _postgres(session: Session, query: SearchQuery, items: list[tuple[bool, list[str]]]) -> list[SearchHit]:
    params: dict[str, Any] = {"q": _pg_tsquery(items)}
    filters = _filters(query, params, pg=True)
    pairs = _pg_pairs(session, items)
    # The candidates: pages with every word (phrases as plain words) or, where phrases have
    # pairs, with those pairs and the other words. Either is answered by GIN indexes alone (no
    # positions needed, so no page's tsvector is read); the query itself is checked on the
    # candidates only. Their words' index is left out with pairs: it added a bitmap of every
    # page holding the phrase's words (9,000 for "bill and food") to AND with a handful.
    words = [w for phrase, ws in items if not (phrase and pairs) for w in ws]
    params.update(pairs=pairs, words=_pg_tsquery([(False, words)]) if words else None,
                  all_words=_pg_tsquery([(False, [w for _, ws in items for w in ws])]))
    # The tsvectors live in page_terms, a narrow table (p_search3_terms): finding the newest
    # matches visits a row per match, and there a row is an id and two TOAST pointers. `pages`
    # is joined only to filter. The title tier ranks by the title, as on SQLite.
    join = " JOIN pages p ON p.capture_id = t.capture_id" if filters else ""

    def rank(tier: str, n: int, cap: int) -> list[tuple[int, float]]:
        vector = "t.title" if tier == "title" else "t.search"
        if tier == "title" or not pairs:
            conds = [f"{vector} @@ to_tsquery('english', :all_words)", *filters]
        else:
            conds = ["citevault_word_pairs(t.search) @> CAST(:pairs AS text[])", *filters]
            if words:
                conds.append("t.search @@ to_tsquery('english', :words)")
        # The inner query picks the newest candidates and carries their tsvector along unread;
        # the query (phrases included) and ts_rank_cd read only those.
        newest = (f"SELECT t.capture_id, {vector} AS v FROM page_terms t{join} WHERE {' AND '.join(conds)} "
                  "ORDER BY t.capture_id DESC LIMIT :cap")
        if cap:
            # Without a phrase the query is its words: every candidate matches.
            sql = ("SELECT c.capture_id, ts_rank_cd(c.v, to_tsquery('english', :q), 1) AS score "
                   f"FROM ({newest}) c ORDER BY score DESC, c.capture_id DESC LIMIT :n")
            rows = session.execute(text(sql), {**params, "n": n, "cap": cap}).all()
            return [(int(r[0]), float(r[1])) for r in rows]
        # Newest first, unscored (a phrase): the newest 4n candidates are checked first, and all
        # of them only when those hold fewer than n matches. OFFSET 0 keeps the check out of
        # the inner scan: pushed into its recheck, it recomputed every candidate's pairs (3 ms).
        sql = (f"SELECT c.capture_id FROM ({newest}) c WHERE c.v @@ to_tsquery('english', :q) "
               "ORDER BY c.capture_id DESC LIMIT :n")
        rows = session.execute(text(sql), {**params, "n": n, "cap": 4 * n}).all()
        if len(rows) < n:
            rows = session.execute(text(sql.replace("LIMIT :cap", "OFFSET 0")), {**params, "n": n}).all()
        return [(int(r[0]), 0.0) for r in rows]

    with _pg_planner(session):
        ids = _two_tiers(rank, "title", "every", query, items, _PG_CANDIDATES)
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
    ), {"n": HEAD_CHARS})}
    snippets = Snippets(w for _, words in items for w in words)
    return [_hit(rows[i], score, *snippets.make(rows[i].head or "")) for i, score in ids if i in rows]


def _hit(row: Any, score: float, snippet: str, spans: list[tuple[int, int]]) -> SearchHit:
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
