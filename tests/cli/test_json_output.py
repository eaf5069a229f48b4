"""--json output: a list given as an iterator (a crawl's captures, possibly 100,000) is written
item by item, and the document is the one `json.dumps(doc, indent=2)` gives for the same lists."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from citevault.cli.base import print_json


def _doc(captures: Any, more: Any) -> dict[str, Any]:
    return {
        "sources": [
            {"id": 1, "url": "https://a.test/\u00e9", "snapshot": {
                "state": "done", "evidence": {"manifest": [], "seal": {}, "keys": [1, {"k": None}]},
                "captures": captures}},
            {"id": 2, "url": "https://b.test/", "snapshot": {"captures": more}},
        ],
        "skipped": [],
    }


def test_streamed_lists_print_as_json_dumps_would(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"id": i, "url": f"https://a.test/{i}", "error": None, "via": "http"} for i in range(3)]
    pulled: list[int] = []

    def lazily() -> Iterator[dict[str, Any]]:
        for row in rows:
            pulled.append(row["id"])
            yield row

    print_json(_doc(lazily(), iter([])))
    out = capsys.readouterr().out
    assert out == json.dumps(_doc(rows, []), indent=2) + "\n"
    assert pulled == [0, 1, 2]
    assert json.loads(out)["sources"][0]["snapshot"]["captures"][2]["id"] == 2


def test_a_document_without_iterators_is_printed_whole(capsys: pytest.CaptureFixture[str]) -> None:
    print_json(_doc([], [{"id": 9}]))
    assert capsys.readouterr().out == json.dumps(_doc([], [{"id": 9}]), indent=2) + "\n"
