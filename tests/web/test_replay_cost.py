"""What one replay asks of the index (issue 15, target 7): counted in SQL statements, which do not
depend on the machine's load, rather than timed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from citevault.archive import Archive
from citevault.config import Settings
from citevault.crawler.recorder import CaptureRecorder
from citevault.storage.warcstore import WarcStore
from citevault.web import create_app
from tests.web.test_cdx import record

PAGE = "http://cost.test/page.html"
TS = "20240101000000"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Archive]]:
    settings = Settings(home=tmp_path_factory.mktemp("cost"))
    archive = Archive(settings)
    snap = archive.queue([PAGE])[0].snapshot_id
    with WarcStore(Path(archive.warc_dir)) as store:
        record(CaptureRecorder(archive.index, store), snap, PAGE, TS,
               b'<html><body><a href="other.html">x</a></body></html>',
               headers=[("Content-Type", "text/html")])
    with TestClient(create_app(settings, archive)) as client:
        yield client, archive
    archive.close()


def _statements(served: tuple[TestClient, Archive], path: str) -> list[str]:
    client, archive = served
    seen: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(statement)

    event.listen(archive.index.engine, "before_cursor_execute", count)
    try:
        r = client.get(path)
    finally:
        event.remove(archive.index.engine, "before_cursor_execute", count)
    assert r.status_code == 200, r.text[:300]
    return seen


def test_rewritten_page_without_browser_records_asks_once_for_them(
    served: tuple[TestClient, Archive],
) -> None:
    """The as-seen lookup (three kinds of browser record, each in the snapshot and then by
    time) is one query when the page has none: 12 statements per replay became 7."""
    stmts = _statements(served, f"/web/{TS}/{PAGE}")
    # The capture (closest), the Link header's first/last/prev/next, the browser records, and
    # the record's row when resolving it.
    assert len(stmts) <= 7, stmts
    assert len(stmts) - len(_statements(served, f"/web/{TS}id_/{PAGE}")) == 1


def test_raw_replay_asks_nothing_of_browser_records(served: tuple[TestClient, Archive]) -> None:
    assert len(_statements(served, f"/web/{TS}id_/{PAGE}")) <= 6
