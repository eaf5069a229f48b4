"""Search at the edges the benchmark's scale brings, on SQLite and PostgreSQL: each ranking tier
scores only its newest matches (here a cap of 5), title matches come first from their own index,
a phrase lists its matches newest first, filters apply before the cap, the title index follows
replaced pages, and PostgreSQL's planner settings do not outlive a search."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import insert, text

from citevault.storage import search as search_module
from citevault.storage.db import Index, open_index
from citevault.storage.index import surt_key
from citevault.storage.models import Capture
from citevault.storage.pages import Page, store_pages
from citevault.storage.search import SearchHit, SearchQuery, search

FILLER = "the committee met on tuesday and talked about budgets schedules and the weather"


def _small_index(url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Index]:
    monkeypatch.setattr(search_module, "_CANDIDATES", 5)
    monkeypatch.setattr(search_module, "_PG_CANDIDATES", 5)
    idx = open_index(url)
    yield idx
    idx.dispose()


@pytest.fixture
def index(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Index]:
    yield from _small_index(db_url, monkeypatch)


@pytest.fixture
def pg_index(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Index]:
    """For what only PostgreSQL has (no SQLite variant to skip)."""
    yield from _small_index(pg_url, monkeypatch)


def _add(index: Index, pages: list[tuple[str, str, str]]) -> None:
    """Pages (host, title, text) with capture ids 1, 2, ... in order: the last is the newest."""
    caps, rows = [], []
    for i, (host, title, body) in enumerate(pages, 1):
        url = f"https://{host}/p/{i}"
        surt = surt_key(url)
        ts = f"2026{1 + i % 12:02d}01120000"
        caps.append({"id": i, "url": url, "surt": surt, "timestamp": ts, "status": 200, "mime": "text/html",
                     "warc": "t.warc.gz", "offset": i, "record_type": "response", "role": "cited"})
        rows.append({"capture_id": i, "url": url, "surt": surt, "timestamp": ts, "role": "cited",
                     "status": 200, "kind": "html", "title": title, "authors": "[]", "site": host,
                     "text": body})
    with index.engine.begin() as conn:
        conn.execute(insert(Capture), caps)
        conn.execute(insert(Page), rows)


def _ids(index: Index, q: str, **kw: object) -> list[int]:
    return [h.capture_id for h in _hits(index, q, **kw)]


def _hits(index: Index, q: str, **kw: object) -> list[SearchHit]:
    with index.session() as s:
        return search(s, SearchQuery(q=q, **kw))  # type: ignore[arg-type]


def test_ranking_scores_the_newest_matches(index: Index) -> None:
    # 1: the best page, but older than the newest five matches; 2-11 mention water once,
    # 12 mentions it often and is among the newest five.
    pages = [("a.test", "Old report", "water " * 30 + FILLER)]
    pages += [("a.test", f"Note {i}", f"{FILLER} water {FILLER}") for i in range(10)]
    pages += [("a.test", "Recent report", "water water water water " + FILLER)]
    _add(index, pages)
    hits = _hits(index, "water", limit=5)
    assert [h.capture_id for h in hits][0] == 12
    assert 1 not in [h.capture_id for h in hits]
    assert set(_ids(index, "water", limit=5)) <= {12, 11, 10, 9, 8}
    assert all(h.score > 0 for h in hits) and hits[0].score >= hits[-1].score
    # A larger page ranks that many; pages of one size come from one candidate set.
    assert sorted(_ids(index, "water", limit=20)) == list(range(1, 13))
    seen = [i for off in range(0, 12, 2) for i in _ids(index, "water", limit=2, offset=off)]
    assert sorted(seen) == [8, 9, 10, 11, 12]


def test_title_matches_first_from_their_own_index(index: Index) -> None:
    pages = [("a.test", "Water rates rise", FILLER + " water")]  # the oldest, but its title
    pages += [("a.test", f"Note {i}", f"water water {FILLER}") for i in range(10)]
    _add(index, pages)
    assert _ids(index, "water", limit=3)[0] == 1
    assert _ids(index, "rates water", limit=3) == [1]  # "rates": in the title, not the text


def test_phrase_matches_newest_first(index: Index) -> None:
    phrase = "lead service lines"
    pages = [("a.test", "Old", f"{FILLER} {phrase} {phrase} {phrase}"),
             ("a.test", "Lead service lines replaced", f"{FILLER} {phrase}"),
             ("a.test", "Words apart", f"lead {FILLER} service {FILLER} lines"),
             ("a.test", "New", f"{phrase} {FILLER}"),
             ("a.test", "Newest", f"{FILLER} {phrase}")]
    _add(index, pages)
    hits = _hits(index, f'"{phrase}"')
    assert [h.capture_id for h in hits] == [2, 5, 4, 1]  # the title match, then newest first
    assert all(h.score == 0 for h in hits)
    assert [hits[1].snippet[a:b].lower() for a, b in hits[1].highlights] == ["lead", "service", "lines"]
    assert 3 in _ids(index, phrase)  # unquoted: the words anywhere


def test_filters_apply_before_the_cap(index: Index) -> None:
    pages = [("www.epa.test", "Agency", f"{FILLER} water")]  # the oldest match
    pages += [("news.test", f"Item {i}", f"{FILLER} water") for i in range(10)]
    _add(index, pages)
    assert 1 not in _ids(index, "water", limit=5)
    assert _ids(index, "water", url="epa.test") == [1]
    assert _ids(index, "water", url="https://www.epa.test/p/") == [1]
    assert _ids(index, '"talked about budgets"', url="epa.test") == [1]


def test_title_index_follows_replaced_pages(index: Index) -> None:
    _add(index, [("a.test", "Budget hearing", FILLER)])
    assert _ids(index, "hearing") == [1]
    with index.session() as s:
        cap = s.get(Capture, 1)
        assert cap is not None
        store_pages(s, [(cap, {"title": "Zoning appeal", "text": FILLER})])
    assert _ids(index, "hearing") == []
    assert _ids(index, "zoning") == [1]


def test_postgres_planner_settings_end_with_the_search(pg_index: Index) -> None:
    index = pg_index
    _add(index, [("a.test", "Budget hearing", FILLER)])
    with index.session() as s:
        assert search(s, SearchQuery(q="budget"))
        assert s.execute(text("SELECT current_setting('enable_indexscan'), current_setting('jit')")).one() \
            == ("on", s.execute(text("SHOW jit")).scalar())
        assert s.execute(text("SELECT current_setting('enable_seqscan')")).scalar() == "on"


def test_phrase_with_stop_words_and_few_matches_among_many_candidates(index: Index) -> None:
    # 1: the phrase; 2-30: its words, also next to each other but in another order or with two
    # stop words between (PostgreSQL drops stop words but counts them). Newest first, the first
    # 4 * limit candidates hold no match: the search must look further.
    phrase = "mayor of stories"
    pages = [("a.test", "Old", f"{FILLER} {phrase} {FILLER}")]
    near = "stories of the mayor, mayor stories, mayor and the stories"
    pages += [("a.test", f"Near miss {i}", f"{FILLER} {near}") for i in range(29)]
    _add(index, pages)
    assert _ids(index, f'"{phrase}"', limit=2) == [1]
    assert _ids(index, f'"{phrase}" committee', limit=2) == [1]
    assert _ids(index, '"mayor stories"', limit=3) == [30, 29, 28]
    assert _ids(index, '"stories of mayor"', limit=3) == []


def test_postgres_terms_follow_the_pages(pg_index: Index) -> None:
    index = pg_index
    _add(index, [("a.test", "Budget hearing", FILLER)])
    with index.engine.begin() as conn:
        conn.execute(text("UPDATE pages SET text = 'zoning appeal of the marina' WHERE capture_id = 1"))
    assert _ids(index, '"appeal of the marina"') == [1]
    assert _ids(index, "weather") == []
    with index.engine.begin() as conn:
        conn.execute(text("DELETE FROM pages WHERE capture_id = 1"))
        assert conn.execute(text("SELECT count(*) FROM page_terms")).scalar() == 0
