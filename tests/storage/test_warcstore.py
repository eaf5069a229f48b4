"""The WARC store: naming, .open while written, rotation, digests, revisits, reading back."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders

from citevault.storage.errors import NotFound, StorageError
from citevault.storage.warcreader import decode_content, read_payload, read_record_bytes
from citevault.storage.warcrecords import payload_digests
from citevault.storage.warcstore import WarcStore

WHEN = datetime(2026, 11, 3, 12, 0, 0, tzinfo=UTC)
NAME_RE = re.compile(r"^cv-\d{17}-\d{5}-[\w-]+-\d+\.warc\.gz$")


def heads(body: bytes, encoding: str | None = None) -> tuple[StatusAndHeaders, StatusAndHeaders]:
    req = StatusAndHeaders("GET /a HTTP/1.1", [("Host", "example.test")], protocol="")
    h = [("Content-Type", "text/html"), ("Content-Length", str(len(body)))]
    if encoding:
        h.append(("Content-Encoding", encoding))
    return req, StatusAndHeaders("200 OK", h, protocol="HTTP/1.1")


def write(store: WarcStore, url: str, body: bytes, encoding: str | None = None):  # type: ignore[no-untyped-def]
    req, resp = heads(body, encoding)
    return store.write_exchange(url, request_head=req, response_head=resp, body=body, when=WHEN)


def test_open_suffix_until_closed_then_renamed(tmp_path: Path) -> None:
    store = WarcStore(tmp_path, prefix="cv")
    rec = write(store, "https://example.test/a", b"<p>hello</p>")
    assert NAME_RE.match(rec.warc)
    assert not (tmp_path / rec.warc).exists() and (tmp_path / (rec.warc + ".open")).exists()
    # Readable while still open: readers fall back to the .open name.
    assert read_payload(tmp_path, rec.warc, rec.offset).payload == b"<p>hello</p>"
    store.close()
    assert (tmp_path / rec.warc).exists() and not (tmp_path / (rec.warc + ".open")).exists()
    warcio = str(Path(sys.executable).with_name("warcio"))
    assert subprocess.run([warcio, "check", str(tmp_path / rec.warc)]).returncode == 0


def test_records_digests_and_pairs(tmp_path: Path) -> None:
    body = gzip.compress(b"<p>compressed on the wire</p>")
    with WarcStore(tmp_path, prefix="cv") as store:
        rec = write(store, "https://example.test/z", body, "gzip")
    with open(tmp_path / rec.warc, "rb") as fh:
        records = list((r.rec_type, r.rec_headers, r.raw_stream.read()) for r in ArchiveIterator(fh))
    types = [t for t, _, _ in records]
    assert types == ["warcinfo", "response", "request"]
    info = records[0][2].decode()
    assert "software: citevault" in info and "WARC File Format 1.1" in info
    resp_h, req_h = records[1][1], records[2][1]
    assert resp_h.get_header("WARC-Payload-Digest") == payload_digests(body)[0]
    assert req_h.get_header("WARC-Concurrent-To") == resp_h.get_header("WARC-Record-ID")
    assert records[1][2] == body  # bytes as sent, Content-Encoding intact
    got = read_payload(tmp_path, rec.warc, rec.offset)
    assert got.payload == body and got.decoded == b"<p>compressed on the wire</p>"
    raw = read_record_bytes(tmp_path, rec.warc, rec.offset, rec.length)
    head = gzip.decompress(raw).split(b"\r\n\r\n", 1)[0]
    assert head.startswith(b"WARC/1.1\r\n") and b"\r\nWARC-Type: response" in head


def test_rotation_at_max_size(tmp_path: Path) -> None:
    with WarcStore(tmp_path, prefix="cv", max_size=5_000) as store:
        recs = [write(store, f"https://example.test/{i}", os.urandom(3000)) for i in range(6)]
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 3 and all(NAME_RE.match(f) for f in files)
    assert all((tmp_path / f).stat().st_size >= 5_000 for f in files[:-1])
    assert len({r.warc for r in recs}) == len(files)
    for f in files:  # each file starts with its own warcinfo
        with open(tmp_path / f, "rb") as fh:
            assert next(iter(ArchiveIterator(fh))).rec_type == "warcinfo"


def test_revisit_record(tmp_path: Path) -> None:
    with WarcStore(tmp_path, prefix="cv") as store:
        body = os.urandom(20_000)
        first = write(store, "https://example.test/a", body)
        _, resp = heads(body)
        rev = store.write_revisit(
            "https://example.test/a", response_head=resp, digest=payload_digests(body)[0],
            refers_to_uri="https://example.test/a", refers_to_date=first.warc_date,
            refers_to_record=first.record_id, when=WHEN,
        )
    got = read_payload(tmp_path, rev.warc, rev.offset)
    assert got.record_type == "revisit" and got.payload == b""
    h = got.rec_headers
    assert h.get_header("WARC-Profile") == (
        "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
    )
    assert h.get_header("WARC-Refers-To-Target-URI") == "https://example.test/a"
    assert h.get_header("WARC-Refers-To-Date") == first.warc_date
    assert h.get_header("WARC-Refers-To") == first.record_id
    assert rev.length < first.length / 10  # the payload is not written again


def test_read_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        read_payload(tmp_path, "missing.warc.gz", 0)
    with pytest.raises(StorageError):
        read_payload(tmp_path, "../escape.warc.gz", 0)
    with WarcStore(tmp_path, prefix="cv") as store:
        rec = write(store, "https://example.test/a", b"x")
    with pytest.raises(StorageError):
        read_record_bytes(tmp_path, rec.warc, rec.offset, 10**9)


def test_unwritable_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StorageError):
        write(WarcStore(blocker / "warcs"), "https://example.test/a", b"x")


@pytest.mark.parametrize(
    ("data", "enc"),
    [(gzip.compress(b"hello", mtime=0), "gzip"), (zlib.compress(b"hello"), "deflate"),
     (b"hello", None), (b"hello", "identity")],
)
def test_decode_content(data: bytes, enc: str | None) -> None:
    assert decode_content(data, enc) == b"hello"


def test_decode_content_keeps_unknown_or_broken() -> None:
    assert decode_content(b"not gzip", "gzip") == b"not gzip"
    assert decode_content(b"abc", "x-custom") == b"abc"
