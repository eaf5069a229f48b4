"""What an unchanged recapture writes (issue 15, target 3): a revisit and its request record, each
its own gzip member, kept small, and still read by the standard readers."""

from __future__ import annotations

import io
import json
import uuid
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cdxj_indexer.main import CDXJIndexer
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.statusandheaders import StatusAndHeaders

from citevault.storage.warcrecords import payload_digests, request_record_id
from citevault.storage.warcstore import WarcStore

URL = "http://img.test/photo.jpg"
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40
WHEN = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)


def _heads() -> tuple[StatusAndHeaders, StatusAndHeaders]:
    request = StatusAndHeaders("GET /photo.jpg HTTP/1.1", [("Host", "img.test"), ("Accept", "*/*")],
                               protocol="")
    response = StatusAndHeaders("200 OK", [("Content-Type", "image/jpeg"),
                                           ("Content-Length", str(len(JPEG)))], protocol="HTTP/1.1")
    return request, response


def _capture_twice(directory: Path) -> Path:
    """A response of an image, then an unchanged recapture of it: a revisit and its request."""
    request, response = _heads()
    digest = payload_digests(JPEG)[0]
    with WarcStore(directory, fsync=False) as store:
        store.write_exchange(URL, request_head=request, response_head=response, body=JPEG, when=WHEN,
                             payload_digest=digest)
        store.write_revisit(URL, response_head=response, digest=digest, refers_to_uri=URL,
                            refers_to_date="2026-11-03T12:00:00Z", refers_to_record=None,
                            when=WHEN.replace(year=2027), request_head=request)
    (path,) = directory.glob("*.warc.gz")
    return path


def _members(path: Path) -> list[tuple[int, bytes]]:
    """(compressed length, decompressed bytes) of each gzip member of a file."""
    data, out = path.read_bytes(), []
    while data:
        z = zlib.decompressobj(31)
        raw = z.decompress(data) + z.flush()
        out.append((len(data) - len(z.unused_data), raw))
        data = z.unused_data
    return out


def test_revisit_of_an_image_is_deflated(tmp_path: Path) -> None:
    """The image's response is stored (level 0: JPEG does not deflate), its revisit, headers
    only, is compressed like any text."""
    members = _members(_capture_twice(tmp_path))
    kinds = [raw.split(b"WARC-Type: ", 1)[1].split(b"\r\n", 1)[0] for _, raw in members]
    assert kinds == [b"warcinfo", b"response", b"request", b"revisit", b"request"]
    stored, revisit = members[1], members[3]
    assert stored[0] > len(stored[1])  # a stored member is a little longer than its record
    assert revisit[0] < 0.8 * len(revisit[1])


def test_revisit_and_its_request_carry_no_block_digests(tmp_path: Path) -> None:
    records = list(ArchiveIterator(io.BytesIO(_capture_twice(tmp_path).read_bytes())))
    revisit, request = records[3].rec_headers, records[4].rec_headers
    assert revisit.get_header("WARC-Block-Digest") is None
    assert request.get_header("WARC-Block-Digest") is None
    assert request.get_header("WARC-Payload-Digest") is None
    # What the identical-payload-digest profile and the pairing need stays.
    assert revisit.get_header("WARC-Payload-Digest") == payload_digests(JPEG)[0]
    assert revisit.get_header("WARC-Profile").endswith("/revisit/identical-payload-digest")
    assert revisit.get_header("WARC-Refers-To-Target-URI") == URL
    assert request.get_header("WARC-Concurrent-To") == revisit.get_header("WARC-Record-ID")
    # The first capture's records keep theirs.
    assert records[1].rec_headers.get_header("WARC-Block-Digest")
    assert records[2].rec_headers.get_header("WARC-Block-Digest")


def test_warcio_and_cdxj_indexer_read_a_recapture(tmp_path: Path) -> None:
    path = _capture_twice(tmp_path)
    with open(path, "rb") as fh:
        it = ArchiveIterator(fh, check_digests=True)
        seen = []
        for rec in it:
            rec.raw_stream.read()
            seen.append((rec.rec_type, rec.digest_checker.problems))
    assert [t for t, _ in seen] == ["warcinfo", "response", "request", "revisit", "request"]
    assert all(not problems for _, problems in seen)
    out = tmp_path / "index.cdxj"
    CDXJIndexer(output=str(out), inputs=[str(path)]).process_all()
    rows = [json.loads(line.split(" ", 2)[2]) for line in out.read_text().splitlines() if line.strip()]
    assert [r.get("mime") for r in rows] == ["image/jpeg", "warc/revisit"]


def test_one_member_for_a_revisit_and_its_request_is_refused_by_warcio(tmp_path: Path) -> None:
    """Why each record stays its own member: warcio (and pywb's and cdxj-indexer's indexing with
    it) stops at a member holding two records."""
    members = _members(_capture_twice(tmp_path))
    shared = zlib.compressobj(6, zlib.DEFLATED, 31)
    joined = shared.compress(members[3][1] + members[4][1]) + shared.flush()
    data = b"".join(zlib.compress(raw, wbits=31) for _, raw in members[:3]) + joined
    with pytest.raises(ArchiveLoadFailed):
        for rec in ArchiveIterator(io.BytesIO(data)):
            rec.raw_stream.read()


def test_a_request_record_id_is_its_capture_events_uuid_as_version_8(tmp_path: Path) -> None:
    """The request's id repeats the response's or revisit's with UUID version 8 for 4
    (`request_record_id`), so its member deflates it to a back-reference; every id stays unique."""
    records = list(ArchiveIterator(io.BytesIO(_capture_twice(tmp_path).read_bytes())))
    ids = [r.rec_headers.get_header("WARC-Record-ID") for r in records]
    assert len(set(ids)) == len(ids)
    for event, request in ((records[1], records[2]), (records[3], records[4])):
        event_id = event.rec_headers.get_header("WARC-Record-ID")
        request_id = request.rec_headers.get_header("WARC-Record-ID")
        assert request.rec_headers.get_header("WARC-Concurrent-To") == event_id
        assert uuid.UUID(event_id[10:-1]).version == 4
        derived = uuid.UUID(request_id[10:-1])
        assert derived.version == 8 and derived.variant == uuid.RFC_4122
        assert request_id == request_record_id(event_id)
        assert request.rec_headers.get_header("Content-Type") == "application/http"
    # An id of another form (not one warcio made) gets a fresh one, never a copy.
    other = request_record_id("<urn:x-test:1>")
    assert other != "<urn:x-test:1>" and uuid.UUID(other[10:-1]).version == 4
