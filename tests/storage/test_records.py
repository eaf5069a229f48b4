"""The capture row the recorder writes is the one `reindex` rebuilds from the same WARC record."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from citevault.crawler.recorder import CaptureRecorder, Exchange
from citevault.storage.db import open_index
from citevault.storage.models import Capture, Snapshot, Source
from citevault.storage.reindex import reindex
from citevault.storage.snapshots import finish_snapshots
from citevault.storage.warcstore import WarcStore

_COLUMNS = ("url", "surt", "timestamp", "status", "mime", "digest", "sha256", "length", "warc", "offset",
            "record_length", "record_type", "role", "redirect_to")
PAGE = "http://site.test/a"


def _exchange(url: str, status: int, body: bytes, headers: list[tuple[str, str]]) -> Exchange:
    return Exchange(url, "GET", [("Accept", "*/*")], status, headers, body,
                    fetched_at=datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC))


def _rows(db: str) -> list[tuple[object, ...]]:
    index = open_index(db)
    try:
        with index.session() as s:
            return [tuple(getattr(c, k) for k in _COLUMNS)
                    for c in s.scalars(select(Capture).order_by(Capture.warc, Capture.offset))]
    finally:
        index.dispose()


def test_recorder_and_reindex_build_the_same_rows(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'a.db'}"
    index = open_index(db)
    with index.session() as s:
        src = Source(url="http://site.test/old", surt="test,site)/old", depth=1, scope="cited",
                     created_at=datetime(2024, 1, 1))
        s.add(src)
        s.flush()
        snap = Snapshot(source_id=src.id, trigger="cli", state="queued", queued_at=datetime(2024, 1, 1))
        s.add(snap)
        s.flush()
        sid = snap.id
    with WarcStore(tmp_path / "warcs") as store:
        rec = CaptureRecorder(index, store)
        rec.start_snapshot(sid)
        moved = rec.record(sid, _exchange("http://site.test/old", 301, b"", [("Location", " /a ")]),
                           role="redirect", redirect_to=PAGE)
        html = [("Content-Type", "text/html; charset=UTF-8")]
        seed = rec.record(sid, _exchange(PAGE, 200, b"<p>hello</p>", html), role="seed", parent_id=moved.id)
        rec.record(sid, _exchange(PAGE, 200, b"<p>hello</p>", html), role="seed")  # a revisit
        rec.record(sid, _exchange("http://site.test/s.css", 200, b"p{}", [("Content-Type", "text/css")]),
                   role="requisite", parent_id=seed.id)
        rec.commit()
    finish_snapshots(index, [sid])
    index.dispose()

    rebuilt = f"sqlite:///{tmp_path / 'b.db'}"
    result = reindex(open_index(rebuilt), tmp_path / "warcs")
    assert result.added == 4
    recorded, again = _rows(db), _rows(rebuilt)
    kinds = [r[_COLUMNS.index("record_type")] for r in recorded]
    assert kinds == ["response", "response", "revisit", "response"]
    assert recorded[0][_COLUMNS.index("redirect_to")] == PAGE
    # A revisit's payload facts come from its original once reindex has linked them.
    assert again == recorded
