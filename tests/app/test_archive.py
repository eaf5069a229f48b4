"""The application layer: Archive.submit (sources, skip, schedules, work queue) and capture_now."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from citevault.archive import Archive
from citevault.config import Settings
from citevault.scheduler import open_schedules
from citevault.storage.errors import BadInput
from citevault.storage.index import now_timestamp, surt_key
from citevault.storage.models import Capture, Snapshot, Source
from citevault.workqueue import WorkQueue
from tests.fakeweb import FakeWeb


@pytest.fixture
def archive(home: Path, db_url: str) -> Iterator[Archive]:
    a = Archive(Settings(home=home, database_url=db_url))
    yield a
    a.close()


class _Told(WorkQueue):
    """The real work queue, remembering which snapshots it was told about."""

    told: list[int]

    def notify(self, snapshot_ids: Iterable[int]) -> None:
        self.told = [*getattr(self, "told", []), *snapshot_ids]
        super().notify(snapshot_ids)


def _count(archive: Archive, model: type[Source] | type[Snapshot]) -> int:
    with archive.index.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize("bad", [
    {"every": "soon"}, {"cron": "0 3 * *"}, {"every": "6h", "cron": "0 3 * * *"},
    {"if_not_archived_within": "a while"}, {"depth": 2}, {"scope": "some"}, {"note": "x" * 2001},
])
def test_bad_input_changes_nothing(archive: Archive, bad: dict[str, object]) -> None:
    with pytest.raises(BadInput):
        archive.submit(["https://example.com/a", "https://example.com/b"], **bad)  # type: ignore[arg-type]
    with pytest.raises(BadInput):
        archive.submit(["https://example.com/a", "not a url"])
    assert _count(archive, Source) == 0 and _count(archive, Snapshot) == 0


def test_a_url_too_long_to_fetch_is_refused_at_submission(archive: Archive) -> None:
    # 3,000 characters: over the crawl's limit, and over what PostgreSQL's B-tree on sources.surt
    # takes (about 2.7 KB), which made the insert fail with an internal error before.
    long_url = "https://example.com/" + "a" * 2980
    with pytest.raises(BadInput, match="3000 characters long; at most 2083"):
        archive.submit(["https://example.com/a", long_url])
    assert _count(archive, Source) == 0 and _count(archive, Snapshot) == 0
    [ok] = archive.submit(["https://example.com/" + "a" * 2063]).queued
    assert len(ok.url) == 2083


def test_submit_queues_schedules_and_notifies(archive: Archive) -> None:
    queue = _Told(archive.index)
    done = archive.submit(["https://example.com/a", "https://example.com/b"], every="6h",
                          note="n", trigger="api", notify=queue)
    assert [q.url for q in done.queued] == ["https://example.com/a", "https://example.com/b"]
    assert queue.told == [q.snapshot_id for q in done.queued]
    assert done.jobs == {q.source_id: [f"recapture-{q.source_id}"] for q in done.queued}
    with archive.index.session() as s:
        rows = s.execute(select(Source.schedule, Source.note, Snapshot.state, Snapshot.trigger)
                         .join(Snapshot, Snapshot.source_id == Source.id)).all()
    assert [tuple(r) for r in rows] == [("every 6h", "n", "queued", "api")] * 2
    with open_schedules(archive) as sched:
        assert {j["id"] for j in sched.jobs()} == {f"recapture-{q.source_id}" for q in done.queued}


def test_submit_skips_what_was_archived_recently(archive: Archive) -> None:
    url = "https://example.com/story"
    [first] = archive.submit([url]).queued
    with archive.index.session() as s:
        s.add(Capture(snapshot_id=first.snapshot_id, url=url, surt=surt_key(url),
                      timestamp=now_timestamp(), status=200, warc="x.warc.gz", offset=0,
                      record_type="response", role="seed"))
    queue = _Told(archive.index)
    done = archive.submit([url, "https://example.com/other"], if_not_archived_within="1h", notify=queue)
    assert [(k.url, k.capture.status) for k in done.skipped] == [(url, 200)]
    assert [q.url for q in done.queued] == ["https://example.com/other"]
    assert queue.told == [done.queued[0].snapshot_id]
    only_skipped = archive.submit([url], if_not_archived_within="1h", notify=queue)
    assert only_skipped.queued == [] and len(only_skipped.skipped) == 1
    assert queue.told == [done.queued[0].snapshot_id]  # nothing new to tell


def test_capture_now_runs_here(web: FakeWeb, home: Path) -> None:
    web.add("https://site.example.test/", "<html><body><p>hello</p></body></html>")
    with Archive(Settings(home=home)) as archive:
        done = archive.capture_now(["https://site.example.test/"], depth=0)
        [q] = done.queued
        with archive.index.session() as s:
            snap = s.get(Snapshot, q.snapshot_id)
            assert snap is not None and snap.state == "done"
            assert s.scalar(select(Capture.status).where(Capture.snapshot_id == q.snapshot_id,
                                                         Capture.role == "seed")) == 200


@pytest.mark.parametrize(("data", "encoding"), [
    (b"\xef\xbb\xbf<p><a href='https://example.com/'>caf\xc3\xa9</a></p>", "utf-8-sig"),
    (b"<meta charset='latin-1'><p>caf\xe9</p>", "cp1252"),
    (b"<p>caf\xe9 without a charset</p>", "cp1252"),
    (b"<p>caf\xc3\xa9 without a charset</p>", "utf-8"),
])
def test_decorate_reads_and_writes_back_the_documents_charset(data: bytes, encoding: str) -> None:
    from citevault.decorate import _decode_html

    text, enc = _decode_html(data)
    assert "café" in text and enc == encoding
    assert text.encode(enc) == data
