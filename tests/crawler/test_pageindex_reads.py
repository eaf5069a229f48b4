"""The page indexer's reads of the index: none to find nothing it can know is not there (3 ms of
CPU and a transaction each on PostgreSQL, several a job; benchmarks/history/
2026-12-08-p-job8.md)."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from citevault.crawler import pageindex


class _Writer:
    def __init__(self) -> None:
        self.queued: list[int] = []

    def in_flight(self) -> list[int]:
        return []

    def put(self, found: list[tuple[Any, dict[str, Any]]]) -> None:
        self.queued += [c.id for c, _ in found]


class _Cap:
    def __init__(self, id: int) -> None:
        self.id = id


def test_a_pass_ends_with_a_read_shorter_than_a_batch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Pages 1-5 in batches of 2: reads of 2, 2 and 1, no fourth read to find nothing; a pass
    whose last batch is full reads once more."""
    rows = [1, 2, 3, 4, 5]
    reads: list[int] = []

    def pending(index: object, ids: object, after: int, limit: int, skip: object = None) -> list[_Cap]:
        got = [_Cap(i) for i in rows if i > after][:limit]
        reads.append(len(got))
        return got

    monkeypatch.setattr(pageindex, "_BATCH", 2)
    monkeypatch.setattr(pageindex, "_pending", pending)
    monkeypatch.setattr(pageindex, "_extract", lambda warc_dir, caps: [(c, {}) for c in caps])
    writer = _Writer()
    assert pageindex.index_while_crawling(None, tmp_path, [1], writer) == 5  # type: ignore[arg-type]
    assert reads == [2, 2, 1] and writer.queued == rows
    reads.clear()
    rows.append(6)
    assert pageindex.index_while_crawling(None, tmp_path, [1], writer, after=4) == 6  # type: ignore[arg-type]
    assert reads == [2, 0]


def test_the_indexer_first_reads_a_poll_after_its_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """At its start the crawl has stored nothing: a crawl over before the first poll costs its
    indexer the last pass alone, not a pass at the start as well."""
    passes: list[int] = []

    def one_pass(*args: object, busy_tries: int = 1, **kwargs: object) -> int:
        passes.append(busy_tries)
        return 0

    monkeypatch.setattr(pageindex, "index_while_crawling", one_pass)
    job_r, job_w = os.pipe()
    os.write(job_w, json.dumps({"database_url": f"sqlite:///{tmp_path / 'index.sqlite'}",
                                "warc_dir": str(tmp_path), "snapshot_ids": [1]}).encode() + b"\n")
    os.close(job_w)  # the job, then the end of the crawl
    with open(job_r, "rb", buffering=0) as raw, io.TextIOWrapper(io.BufferedReader(raw)) as stdin:
        monkeypatch.setattr(sys, "stdin", stdin)
        pageindex._child_main()
    assert passes == [pageindex._LAST_PASS_TRIES]
