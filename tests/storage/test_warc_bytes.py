"""Byte-exact WARC records as citevault writes them (response + request, revisit, metadata), with
record ids and dates fixed the way warcio's own writer tests fix them (FixedTestRecordMixin)."""

from __future__ import annotations

import base64
import hashlib
import itertools
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, tzinfo
from io import BytesIO
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from citevault.crawler.recorder import Exchange
from citevault.storage import warcrecords, warcstore
from citevault.storage.warcmember import serialize
from citevault.storage.warcstore import PARENT_HEADER, ROLE_HEADER, SNAPSHOT_HEADER, WarcStore

FETCHED = datetime(2026, 11, 3, 12, 0, 0, 123456, tzinfo=UTC)
NOW = datetime(2026, 11, 3, 12, 30, 0, tzinfo=UTC)  # "now" for records stamped at write time
URL = "https://www.dailyledger.test/2026/11/03/senate-passes-water-bill/"
BODY = b"<!DOCTYPE html><title>Water bill</title><p>61 to 38.</p>\n"


class FixedTestRecordMixin:
    """Record ids from a fixed sequence and a fixed date instead of uuid4() and the clock."""

    _ids: Iterator[int]

    @classmethod
    def _make_warc_id(cls) -> str:
        return f"<urn:uuid:00000000-0000-4000-8000-{next(cls._ids):012d}>"

    @classmethod
    def _make_warc_date(cls, use_micros: bool = False) -> str:
        return "2000-01-01T00:00:00.000000Z" if use_micros else "2000-01-01T00:00:00Z"


class _FrozenClock(datetime):
    @classmethod
    def now(cls, tz: tzinfo | None = None) -> _FrozenClock:
        t = NOW.astimezone(tz) if tz else NOW.replace(tzinfo=None)
        return cls(t.year, t.month, t.day, t.hour, t.minute, t.second, t.microsecond, t.tzinfo)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WarcStore]:
    class FixedTestWARCWriter(FixedTestRecordMixin, WARCWriter):
        _ids = itertools.count(1)

    monkeypatch.setattr(warcstore, "WARCWriter", FixedTestWARCWriter)
    monkeypatch.setattr(warcstore, "datetime", _FrozenClock)
    with WarcStore(tmp_path / "warcs", fsync=False) as s:
        yield s


def _members(store: WarcStore) -> list[bytes]:
    """The decompressed gzip members of the store's one file, warcinfo first."""
    store.close()
    (path,) = store.directory.glob("*.warc.gz")
    data, out = path.read_bytes(), []
    while data:
        z = zlib.decompressobj(31)
        out.append(z.decompress(data) + z.flush())
        data = z.unused_data
    return out


def _exchange(body: bytes = BODY) -> Exchange:
    return Exchange(
        url=URL,
        method="GET",
        request_headers=[
            ("User-Agent", "citevault-test"),
            ("Proxy-Authorization", "Basic c2VjcmV0"),
            ("Accept", "*/*"),
        ],
        status=200,
        response_headers=[
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", "999"),
            ("Transfer-Encoding", "chunked"),
            ("ETag", '"dl-article-v1"'),
        ],
        body=body,
        ip_address="203.0.113.7",
        fetched_at=FETCHED,
    )


def _sha1(block: bytes) -> str:
    """WARC-style digest, computed here to check warcio's over the exact block bytes."""
    return "sha1:" + base64.b32encode(hashlib.sha1(block).digest()).decode()


def _crlf(*lines: str) -> bytes:
    """Header lines joined with CRLF (the block after them is appended by the caller)."""
    return "".join(f"{line}\r\n" for line in lines).encode()


REQUEST_HTTP = _crlf(
    "GET /2026/11/03/senate-passes-water-bill/ HTTP/1.1",
    "Host: www.dailyledger.test",
    "User-Agent: citevault-test",  # Proxy-Authorization is never archived
    "Accept: */*",
    "",
)
RESPONSE_HTTP = _crlf(
    "HTTP/1.1 200 OK",
    "Content-Type: text/html; charset=utf-8",
    'ETag: "dl-article-v1"',  # Transfer-Encoding dropped; Content-Length is the archived body's
    "Content-Length: 57",
    "",
)


def _request_record(concurrent_to: int, *, digests: bool = True) -> bytes:
    """The request record written with a response; with a revisit (`digests=False`) it carries
    neither digest (see WarcStore.write_revisit). Its id is its response's (or revisit's) with
    UUID version 8 for 4 (warcrecords.request_record_id)."""
    fields = [
        "WARC/1.1",
        "WARC-Date: 2026-11-03T12:00:00.123456Z",
        f"WARC-Concurrent-To: <urn:uuid:00000000-0000-4000-8000-{concurrent_to:012d}>",
        f"WARC-Record-ID: <urn:uuid:00000000-0000-8000-8000-{concurrent_to:012d}>",
        "WARC-Type: request",
        f"WARC-Target-URI: {URL}",
    ]
    if digests:
        fields += ["WARC-Payload-Digest: sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ",
                   f"WARC-Block-Digest: {_sha1(REQUEST_HTTP)}"]
    fields += ["Content-Type: application/http", f"Content-Length: {len(REQUEST_HTTP)}", ""]
    return _crlf(*fields) + REQUEST_HTTP + b"\r\n\r\n"


def test_response_then_request_record(store: WarcStore) -> None:
    ex = _exchange()
    written = store.write_exchange(
        URL,
        request_head=ex.request_head(),
        response_head=ex.response_head(),
        body=ex.body,
        when=ex.fetched_at,
        ip_address=ex.ip_address,
        extra_headers={ROLE_HEADER: "seed", SNAPSHOT_HEADER: "snap-1"},
        payload_digest=warcrecords.payload_digests(BODY)[0],  # as the recorder passes it
    )
    response = (
        _crlf(
            "WARC/1.1",
            "WARC-Date: 2026-11-03T12:00:00.123456Z",
            "WARC-Citevault-Role: seed",
            "WARC-Citevault-Snapshot: snap-1",
            # Given by the recorder, so warcio does not hash the payload again.
            "WARC-Payload-Digest: sha1:BZTY6SBUAH2NH5YEQ52RBZNSMYE7BRFF",
            "WARC-IP-Address: 203.0.113.7",
            "WARC-Type: response",
            "WARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-000000000001>",
            f"WARC-Target-URI: {URL}",
            f"WARC-Block-Digest: {_sha1(RESPONSE_HTTP + BODY)}",
            "Content-Type: application/http; msgtype=response",
            f"Content-Length: {len(RESPONSE_HTTP) + len(BODY)}",
            "",
        )
        + RESPONSE_HTTP
        + BODY
        + b"\r\n\r\n"
    )
    assert (written.record_id, written.warc_date) == (
        "<urn:uuid:00000000-0000-4000-8000-000000000001>",
        "2026-11-03T12:00:00.123456Z",
    )
    members = _members(store)
    assert members[1:] == [response, _request_record(concurrent_to=1)]
    # The index row's (offset, length) is exactly the response's gzip member.
    raw = (store.directory / written.warc).read_bytes()[written.offset : written.offset + written.length]
    assert zlib.decompress(raw, 31) == response


def test_revisit_record_names_the_original(store: WarcStore) -> None:
    ex = _exchange()
    digest = warcrecords.payload_digests(BODY)[0]
    store.write_revisit(
        URL,
        response_head=ex.response_head(),
        digest=digest,
        refers_to_uri=URL,
        refers_to_date="2026-11-01T08:00:00Z",
        refers_to_record="<urn:uuid:00000000-0000-4000-8000-0000000000aa>",
        when=ex.fetched_at,
        request_head=ex.request_head(),
        extra_headers={ROLE_HEADER: "requisite", SNAPSHOT_HEADER: "snap-2", PARENT_HEADER: "<urn:uuid:p>"},
    )
    revisit = (
        _crlf(
            "WARC/1.1",
            "WARC-Date: 2026-11-03T12:00:00.123456Z",
            "WARC-Citevault-Role: requisite",
            "WARC-Citevault-Snapshot: snap-2",
            "WARC-Citevault-Parent: <urn:uuid:p>",
            "WARC-Refers-To: <urn:uuid:00000000-0000-4000-8000-0000000000aa>",
            "WARC-Type: revisit",
            "WARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-000000000001>",
            f"WARC-Target-URI: {URL}",
            "WARC-Profile: http://netpreserve.org/warc/1.1/revisit/identical-payload-digest",
            f"WARC-Refers-To-Target-URI: {URL}",
            "WARC-Refers-To-Date: 2026-11-01T08:00:00Z",
            f"WARC-Payload-Digest: {digest}",
            # No WARC-Block-Digest: the manifest lists the block's SHA-256 (issue 15, target 3).
            "Content-Type: application/http",
            f"Content-Length: {len(RESPONSE_HTTP)}",
            "",
        )
        + RESPONSE_HTTP
        + b"\r\n\r\n"
    )
    assert _members(store)[1:] == [revisit, _request_record(concurrent_to=1, digests=False)]


def test_metadata_record(store: WarcStore) -> None:
    store.write_metadata(
        URL, {"type": "citevault-snapshot", "snapshot_key": "snap-1"}, {SNAPSHOT_HEADER: "snap-1"}
    )
    body = b'{"snapshot_key": "snap-1", "type": "citevault-snapshot"}'
    metadata = (
        _crlf(
            "WARC/1.1",
            "WARC-Date: 2026-11-03T12:30:00Z",  # written now (the frozen clock), no micros when zero
            "WARC-Citevault-Snapshot: snap-1",
            "WARC-Type: metadata",
            "WARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-000000000001>",
            f"WARC-Target-URI: urn:snapshot:{URL}",  # never the page's own URI
            "WARC-Payload-Digest: sha1:FZ46DEGSPMHHREIFPQD6IHZHT6PQVLOK",
            "WARC-Block-Digest: sha1:FZ46DEGSPMHHREIFPQD6IHZHT6PQVLOK",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            "",
        )
        + body
        + b"\r\n\r\n"
    )
    assert _members(store)[1:] == [metadata]


def test_warcinfo_opens_each_file(store: WarcStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(warcstore.socket, "gethostname", lambda: "archive1")
    store.write_metadata(URL, {}, {})
    (warcinfo, _) = _members(store)
    name = next(store.directory.glob("*.warc.gz")).name
    fields = _crlf(
        "software: citevault",
        "format: WARC File Format 1.1",
        "conformsTo: https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
        "hostname: archive1",
        "robots: see citevault settings (obey_robots)",
    )
    assert (
        warcinfo
        == _crlf(
            "WARC/1.1",
            "WARC-Type: warcinfo",
            "WARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-000000000002>",
            f"WARC-Filename: {name}",
            "WARC-Date: 2000-01-01T00:00:00.000000Z",  # warcinfo takes the builder's date
            f"WARC-Block-Digest: {_sha1(fields)}",
            "Content-Type: application/warc-fields",
            f"Content-Length: {len(fields)}",
            "",
        )
        + fields
        + b"\r\n\r\n"
    )


@pytest.mark.parametrize("value", ["citevault-test", "caf\u00e9 \u2603", ""])
def test_a_request_records_digests_are_the_ones_warcio_computes(value: str) -> None:
    """A request's digests are computed by warcrecords (its empty payload's, its HTTP head's), not
    by warcio: the record is the one warcio's writer makes of the same head, byte for byte,
    whatever the head holds (warcio writes non-ASCII header values %-encoded)."""
    def head() -> StatusAndHeaders:
        return StatusAndHeaders("GET /a?b=c HTTP/1.1", [("Host", "site.test"), ("X-Note", value)],
                                protocol="")

    concurrent_to = "<urn:uuid:00000000-0000-4000-8000-000000000001>"
    ours = warcrecords.request_record("http://site.test/a?b=c", head(), "2026-11-03T12:00:00Z", concurrent_to)
    theirs = WARCWriter(BytesIO(), warc_version="1.1").create_warc_record(
        "http://site.test/a?b=c", "request", payload=BytesIO(b""), length=0, http_headers=head(),
        warc_content_type="application/http",
        warc_headers_dict={"WARC-Date": "2026-11-03T12:00:00Z", "WARC-Concurrent-To": concurrent_to,
                           "WARC-Record-ID": warcrecords.request_record_id(concurrent_to)},
    )
    assert serialize(ours) == serialize(theirs)
    block = "WARC-Block-Digest"
    assert ours.rec_headers.get_header(block) == theirs.rec_headers.get_header(block)
