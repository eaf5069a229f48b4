"""Search-result snippets: the window holding every query word, stemmed matches, spans that point
at the marked words, cuts marked with "…", text whose lower case changes length."""

from __future__ import annotations

from citevault.storage.snippet import Snippets


def _marked(snippet: tuple[str, list[tuple[int, int]]]) -> list[str]:
    text, spans = snippet
    return [text[a:b] for a, b in spans]


def test_window_with_every_word() -> None:
    text = "Water " + "filler words here. " * 40 + "The council voted on water rates. " + "more text. " * 40
    snippet = Snippets(["votes", "water"]).make(text)
    assert snippet[0].startswith("… ") and snippet[0].endswith(" …")
    assert _marked(snippet) == ["voted", "water"]  # stems: "votes" finds "voted"
    assert len(snippet[0]) <= 250


def test_spans_and_white_space() -> None:
    text, spans = Snippets(["lead", "lines"]).make("Replacing  lead\n\nservice lines, leading to LINES.")
    assert text == "Replacing lead service lines, leading to LINES."
    assert [text[a:b] for a, b in spans] == ["lead", "lines", "leading", "LINES"]


def test_words_start_at_word_boundaries_and_longer_stems_win() -> None:
    assert _marked(Snippets(["art"]).make("a start of the art party")) == ["art"]
    assert _marked(Snippets(["stories", "story"]).make("storied stories")) == ["storied", "stories"]


def test_no_match_and_changing_lower_case() -> None:
    assert Snippets(["zebra"]).make("nothing here") == ("nothing here", [])
    text, spans = Snippets(["istanbul", "water"]).make("İstanbul water, İstanbul")
    # "İ".lower() is two characters long: offsets come from a case-blind pattern instead
    assert [text[a:b] for a, b in spans] == ["İstanbul", "water", "İstanbul"]
