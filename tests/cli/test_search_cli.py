"""`citevault search`: ranked results with highlighted snippets and replay URLs, filters, JSON, and
one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

from citevault.cli import get_app
from tests.fakeweb import NewsSite

PHRASE = '"bipartisan vote brings us closer"'


def _run(*args: str) -> Result:
    return CliRunner().invoke(get_app(), list(args))


def test_search_command(news: NewsSite, home: Path) -> None:
    added = _run("add", news.article, "--json")
    assert added.exit_code == 0, added.stderr
    doc = json.loads(_run("search", PHRASE, "--json").stdout)
    assert doc["query"] == PHRASE
    top = doc["results"][0]
    assert top["url"] == news.gov_page and top["role"] == "cited"
    assert top["replay_url"].endswith(f"/web/{top['timestamp']}/{news.gov_page}")
    marked = " ".join(top["snippet"][a:b] for a, b in top["highlights"]).lower()
    assert marked == "bipartisan vote brings us closer"
    only = json.loads(_run("search", "water", "--url", "https://www.epa.test/", "--json").stdout)
    assert [r["url"] for r in only["results"]] == [news.gov_page]
    ts = top["timestamp"]
    dated = json.loads(_run("search", PHRASE, "--from", ts[:8], "--to", ts, "--limit", "1",
                            "--json").stdout)
    assert [r["url"] for r in dated["results"]] == [news.gov_page]
    text = _run("search", PHRASE)
    assert text.exit_code == 0 and "1. Statement on Senate Passage" in text.stdout
    assert news.gov_page in text.stdout and "/web/" in text.stdout
    none = _run("search", "zzzunheardofword")
    assert none.exit_code == 0 and "no archived page matches" in none.stdout


def test_search_bad_input(home: Path) -> None:
    for args in (["search", "  "], ["search", "water", "--from", "last week"],
                 ["search", "water", "--limit", "0"], ["search", "water", "--role", "boss"]):
        r = _run(*args)
        assert r.exit_code == 2, args
        assert r.stdout == "" and r.stderr.startswith("citevault: error: ")
        assert r.stderr.count("\n") == 1
