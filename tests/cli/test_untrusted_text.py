"""Text from the web (URLs, a damaged record's bytes) is printed as it is: Rich's markup syntax in it
(`[/b]`, `[red]`) is neither a style nor a crash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner
from w3lib.url import safe_url_string

from citevault.cli import get_app
from citevault.cli.capture import _ProgressView
from tests.fakeweb import FakeWeb

URL = "https://site.example.test/a[/b]?q=[red]x[/]"


def run(*args: str) -> Any:
    return CliRunner().invoke(get_app(), list(args), env={"COLUMNS": "400"})  # no folding


@pytest.fixture
def web(web: FakeWeb) -> FakeWeb:
    page = "<html><head><title>t</title></head><body><p>hello</p></body></html>"
    web.add(URL, page)
    web.add(safe_url_string(URL), page)  # what Scrapy asks for
    web.add("https://site.example.test/next", "<html><body><p>next</p></body></html>")
    return web


def test_markup_in_urls_is_printed_verbatim(web: FakeWeb, home: Path) -> None:
    added = run("add", URL, "--depth", "0")
    assert added.exit_code == 0, added.stderr
    assert "[/b]" in added.stdout
    for args in (("list",), ("show", "1")):
        result = run(*args)
        assert result.exit_code == 0, (args, result.stderr)
        assert "a[/b]" in result.stdout, args


def test_verify_prints_a_damaged_record_whatever_its_bytes(web: FakeWeb, home: Path) -> None:
    """A reader's error quotes the bytes it stopped at; here they hold a Rich closing tag."""
    first = json.loads(run("add", URL, "--depth", "0", "--json").stdout)
    assert run("add", "https://site.example.test/next", "--depth", "0").exit_code == 0
    cap = next(c for c in first["sources"][0]["snapshot"]["captures"] if c["role"] == "seed")
    path = home / "warcs" / cap["warc"]
    data = bytearray(path.read_bytes())
    junk = b"HTTP/1.0 200 [/\xa8\xd3]\r\n\r\n"  # warcio: "Unknown archive format, first line: ..."
    data[cap["offset"]: cap["offset"] + len(junk)] = junk
    path.write_bytes(bytes(data))
    result = run("verify")
    assert result.exit_code == 1, result.stderr
    bad = [ln for ln in result.stdout.splitlines() if ln.startswith("BAD capture")]
    assert len(bad) == 1 and cap["url"] in bad[0] and "[/" in bad[0]
    doc = json.loads(run("verify", "--json").stdout)
    [problem] = doc["problems"]
    assert problem["url"] == cap["url"] and problem["reason"].isprintable() and len(problem["reason"]) <= 200


def test_live_progress_shows_the_last_url_verbatim() -> None:
    view = _ProgressView()
    view.update({"last_url": "https://site.example.test/[/b]"})
    console = Console(record=True, width=200)
    console.print(view)
    assert "https://site.example.test/[/b]" in console.export_text()
