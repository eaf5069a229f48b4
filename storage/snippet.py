"""Search-result snippets: about 240 characters of a page's text around the place where most of
the query's words occur, each occurrence marked with its [start, end) span."""

from __future__ import annotations

import heapq
import re
from collections import Counter, deque
from collections.abc import Iterable, Iterator

__all__ = ["Snippets"]

_SUFFIX_RE = re.compile(r"(?:ing|ed|es|s|ly|er|ers)$")
_TAIL_RE = re.compile(r"\w*")
# Match markers: characters that never occur in extracted text, turned into spans at the end.
_OPEN, _CLOSE = "\x02", "\x03"
_MARK_RE = re.compile(f"{_OPEN}(.*?){_CLOSE}", re.S)
_SNIPPET_CHARS = 240
_LEAD = 40  # characters of context before the window's first match
_MAX_MARKS = 500  # occurrences of one word looked at
# A snippet is looked for in this much of a page's text.
HEAD_CHARS = 50_000


def _stem(word: str) -> str:
    w = word.lower()
    return _SUFFIX_RE.sub("", w) if len(w) > 4 else w


def _is_word_char(c: str) -> bool:
    return c.isalnum() or c == "_"  # what \w means in a str pattern


class Snippets:
    """Snippets for one query. Words match by a crude stem (a word that starts with a query
    word's stem), as the engines' stemmed indexes do. Made here, not by the engines: FTS5's
    snippet() and PostgreSQL's ts_headline tokenize every hit's whole document again (0.25 ms and
    2 ms a page, benchmarks/search_bench.py). Occurrences are found with str.find on the
    lower-cased text: a regular expression alternation of the stems (`\\b(?:a|b)\\w*`, re.I) ran at
    45 ns a character, ~0.1-0.5 ms a page, most of a query's time at 100,000 pages."""

    def __init__(self, words: Iterable[str]) -> None:
        # Longest first: where two stems start at one place, the longer one names the match.
        self.stems = sorted({_stem(w) for w in words}, key=len, reverse=True)
        groups = "|".join(f"({re.escape(st)})" for st in self.stems)
        self._pattern = re.compile(r"\b(?:" + groups + r")\w*", re.I)

    def occurrences(self, body: str, low: str, start: int = 0, end: int | None = None
                    ) -> Iterator[tuple[int, int, int]]:
        """(start, end, stem index) of each word from body[start:end] on that starts with a stem,
        in order, found lazily (the snippet's window is usually settled by the first few); `low`
        is body.lower()."""
        if len(low) != len(body):  # lower() changed lengths (e.g. "İ"): offsets would drift
            for m in self._pattern.finditer(body, start):
                yield m.start(), m.end(), (m.lastindex or 1) - 1
            return
        last = -1
        for occ in heapq.merge(*(self._of_stem(low, k, st, start, end) for k, st in enumerate(self.stems))):
            if occ[0] != last:  # two stems at one place: the longer (listed first) names it
                last = occ[0]
                yield occ

    @staticmethod
    def _of_stem(low: str, k: int, stem: str, start: int, end: int | None) -> Iterator[tuple[int, int, int]]:
        pos = low.find(stem, start, end)
        while pos >= 0:
            if pos == 0 or not _is_word_char(low[pos - 1]):
                yield pos, _TAIL_RE.match(low, pos + len(stem)).end(), k  # type: ignore[union-attr]
            pos = low.find(stem, pos + 1, end)

    def _best_start(self, body: str, low: str) -> int:
        """Where the window holding the most distinct query words starts; the first window that
        holds all of them wins."""
        span = _SNIPPET_CHARS - 60
        window: deque[tuple[int, int, int]] = deque()
        counts: Counter[int] = Counter()
        best, start = 0, 0
        for n, occ in enumerate(self.occurrences(body, low)):
            if n == _MAX_MARKS:
                break
            window.append(occ)
            counts[occ[2]] += 1
            while window[0][0] <= occ[0] - span:
                first = window.popleft()[2]
                counts[first] -= 1
                if not counts[first]:
                    del counts[first]
            if len(counts) > best:
                best, start = len(counts), max(0, window[0][0] - _LEAD)
                if best == len(self.stems):
                    break
        if start:
            space = body.find(" ", start)
            start = space + 1 if 0 <= space < start + 30 else start
        return start

    def make(self, text: str) -> tuple[str, list[tuple[int, int]]]:
        """The snippet of `text` (white space runs made one space, "…" where it is cut) and the
        [start, end) spans of the query's words in it."""
        body = text[:HEAD_CHARS]
        low = body.lower()
        start = self._best_start(body, low)
        end = min(len(body), start + _SNIPPET_CHARS)
        if end < len(body):
            space = body.rfind(" ", start, end)
            end = space if space > start + _SNIPPET_CHARS // 2 else end
        pieces, last = [], start
        for s, e, _ in self.occurrences(body, low, start, end):
            if e > end:
                break
            pieces += [body[last:s], _OPEN, body[s:e], _CLOSE]
            last = e
        pieces.append(body[last:end])
        raw = ("… " if start else "") + "".join(pieces) + (" …" if end < len(text) else "")
        return _marked(" ".join(raw.split()))


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
