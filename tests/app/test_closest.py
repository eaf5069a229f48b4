"""Captures close to a URL the archive does not hold: same host, longest shared path, good
statuses first, nearest in time."""

from __future__ import annotations

from citevault.closest import Close, close_captures
from citevault.storage.db import open_index
from citevault.storage.index import surt_key
from citevault.storage.models import Capture


def _cap(url: str, ts: str, status: int | None = 200, warc: str | None = "x.warc.gz") -> Capture:
    return Capture(url=url, surt=surt_key(url), timestamp=ts, status=status, warc=warc, offset=0,
                   record_length=1, record_type="response", role="seed")


def test_close_captures_rank_by_path_status_and_time(db_url: str) -> None:
    index = open_index(db_url)
    with index.session() as s:
        s.add_all([
            _cap("https://news.test/2026/11/03/other-story/", "20261103120000"),
            _cap("https://news.test/2026/11/03/other-story/", "20200101000000"),  # older copy
            _cap("https://news.test/2026/11/03/gone/", "20261103120000", status=404),
            _cap("https://news.test/2026/11/01/earlier/", "20261101000000"),
            _cap("https://news.test/about/", "20261103120000"),
            _cap("https://news.test/2026/11/03/failed/", "20261103120000", status=None, warc=None),
            _cap("https://elsewhere.test/2026/11/03/story/", "20261103120000"),  # another host
            _cap("https://news.testing.test/2026/11/03/x/", "20261103120000"),  # a longer host name
        ])
    with index.session() as s:
        got = close_captures(s, "https://news.test/2026/11/03/missing/", "20261103000000")
    assert got == [
        Close("https://news.test/2026/11/03/other-story/", "20261103120000", 200),
        Close("https://news.test/2026/11/03/gone/", "20261103120000", 404),
        Close("https://news.test/2026/11/01/earlier/", "20261101000000", 200),
        Close("https://news.test/about/", "20261103120000", 200),
    ]
    with index.session() as s:
        assert close_captures(s, "https://nothing.test/x") == []
        assert len(close_captures(s, "https://news.test/2026/11/03/missing/", n=2)) == 2
    index.dispose()
