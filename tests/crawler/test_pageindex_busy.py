"""The page indexer beside a crawl outlives a write lock held past the busy timeout: that pass's
pages wait for the next one (a 100,000-URL run lost its indexer so:
benchmarks/history/2026-12-07-and-before.md, p-perf3, "Lock errors")."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from citevault.crawler import pageindex


def _raising(message: str) -> Any:
    def index_pages(*args: object, **kwargs: object) -> int:
        raise OperationalError("INSERT INTO pages ...", {}, sqlite3.OperationalError(message))

    return index_pages


def test_a_busy_database_delays_the_pass(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(pageindex, "index_pages", _raising("database is locked"))
    assert pageindex.index_while_crawling(None, tmp_path, [1]) == 0  # type: ignore[arg-type]
    calls: list[list[int]] = []
    monkeypatch.setattr(pageindex, "index_pages", lambda index, warc_dir, ids: calls.append(ids) or 3)
    assert pageindex.index_while_crawling(None, tmp_path, [1]) == 3  # type: ignore[arg-type]
    assert calls == [[1]]


def test_other_database_errors_still_end_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(pageindex, "index_pages", _raising("no such table: pages"))
    with pytest.raises(OperationalError):
        pageindex.index_while_crawling(None, tmp_path, [1])  # type: ignore[arg-type]
