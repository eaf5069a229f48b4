"""The capture flow's revisit lookup (`revisit_original`) finds what `latest_with_digest` finds,
on SQLite and on PostgreSQL."""

from __future__ import annotations

from citevault.storage.db import open_index
from citevault.storage.index import latest_with_digest, revisit_original, surt_key
from citevault.storage.models import Capture

URL = "https://www.example.test/a/page?id=1"


def _cap(ts: str, digest: str, rtype: str = "response", url: str = URL) -> Capture:
    return Capture(url=url, surt=surt_key(url), timestamp=ts, status=200, digest=digest,
                   warc="x.warc.gz", offset=0, record_length=1, record_type=rtype, role="seed")


def test_revisit_original_matches_latest_with_digest(db_url: str) -> None:
    index = open_index(db_url)
    with index.session() as s:
        s.add_all([_cap("20200101000000", "sha1:AAAA"), _cap("20210101000000", "sha1:AAAA"),
                   _cap("20220101000000", "sha1:BBBB"), _cap("20230101000000", "sha1:AAAA", "revisit"),
                   # same SURT, other URL: a revisit must name its own URL's record
                   _cap("20240101000000", "sha1:AAAA", url="http://example.test/a/page?id=1")])
    with index.session() as s:
        for digest in ("sha1:AAAA", "sha1:BBBB", "sha1:CCCC"):
            full = latest_with_digest(s, URL, digest)
            row = revisit_original(s, URL, digest)
            assert (row is None) == (full is None)
            if full is not None and row is not None:
                assert (row.id, row.url, row.timestamp) == (full.id, full.url, full.timestamp)
        found = revisit_original(s, URL, "sha1:AAAA", surt_key(URL))
        assert found is not None and found.timestamp == "20210101000000"
    index.dispose()
