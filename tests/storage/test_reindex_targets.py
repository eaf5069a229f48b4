"""`reindex` reads snapshot metadata records whatever their target: `urn:snapshot:<url>` (now) or
the seed's own URL (files written before), and pywb-style readers never see them as the page."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders

from citevault.storage import warcstore
from citevault.storage.db import open_index
from citevault.storage.models import Snapshot, Source
from citevault.storage.reindex import reindex
from citevault.storage.warcstore import ROLE_HEADER, SNAPSHOT_HEADER, WarcStore


def _snapshot(store: WarcStore, url: str, key: str) -> None:
    store.write_metadata(url, {
        "type": "citevault-snapshot", "snapshot_key": key,
        "source": {"url": url, "note": None, "depth": 0, "scope": "cited", "schedule": None,
                   "created_at": "2024-01-02T03:04:05.000000Z"},
        "snapshot": {"trigger": "cli", "queued_at": "2024-01-02T03:04:05.000000Z",
                     "started_at": "2024-01-02T03:04:06.000000Z", "attempt": 1},
    }, {SNAPSHOT_HEADER: key})
    store.write_exchange(
        url, request_head=StatusAndHeaders("GET / HTTP/1.1", [("Host", "example.org")], protocol=""),
        response_head=StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1"),
        body=b"<p>page</p>", when=datetime.now(UTC),
        extra_headers={ROLE_HEADER: "seed", SNAPSHOT_HEADER: key},
    )


def test_reindex_reads_old_and_new_metadata_targets(tmp_path: Path, db_url: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    warcs = tmp_path / "warcs"
    with monkeypatch.context() as old_style:
        old_style.setattr(warcstore, "metadata_target", lambda kind, url: url)
        with WarcStore(warcs, prefix="a-old") as store:
            _snapshot(store, "https://example.org/old", "k-old")
    with WarcStore(warcs, prefix="b-new") as store:
        _snapshot(store, "https://example.org/new", "k-new")

    targets = []
    for path in sorted(warcs.glob("*.warc.gz")):
        with open(path, "rb") as fh:
            targets += [r.rec_headers.get_header("WARC-Target-URI")
                        for r in ArchiveIterator(fh) if r.rec_type == "metadata"]
    assert targets == ["https://example.org/old", "urn:snapshot:https://example.org/new"]

    index = open_index(db_url)
    try:
        result = reindex(index, warcs)
        assert (result.sources, result.snapshots, result.added) == (2, 2, 2)
        with index.session() as s:
            assert sorted(s.query(Source.url)) == [("https://example.org/new",), ("https://example.org/old",)]
            assert s.query(Snapshot).filter(Snapshot.urls_done == 1).count() == 2
    finally:
        index.dispose()
