"""Big records are streamed into the WARC file (storage/warcmember.py) with the bytes, offsets and
block digests of the in-memory path; JSON documents with long lists are written item by item as
`json.dumps` would write them whole."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import random
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from citevault.storage import warcmember, warcrecords, warcstore
from citevault.storage.manifest import block_sha256, write_json
from citevault.storage.warcstore import SNAPSHOT_HEADER, WarcStore
from tests.storage.test_warc_bytes import FixedTestRecordMixin, _FrozenClock

WHEN = datetime(2026, 11, 3, 12, 0, 0, 123456, tzinfo=UTC)
# 300 KB of link-heavy HTML (compressible, unlike random bytes) and 200 KB of "image".
PAGE = b"<!DOCTYPE html><ul>" + b"".join(
    b"<li><a href='https://h%02d.example.test/p/%d'>page %d</a></li>\n" % (i % 20, i, i) for i in range(5000)
) + b"</ul>"
IMAGE = bytes((i * 7919 + i // 251) % 256 for i in range(200_000))


def _head(ctype: str) -> StatusAndHeaders:
    return StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1")


def _writes(store: WarcStore, streamed_metadata: bool) -> None:
    """The same records each time: exchanges of each kind, a revisit, a metadata record."""
    req = StatusAndHeaders("GET /p HTTP/1.1", [("Host", "example.test")], protocol="")
    for url, ctype, body in (("https://example.test/page", "text/html", PAGE),
                             ("https://example.test/img", "image/png", IMAGE),
                             ("https://example.test/small", "text/html", b"<p>small</p>"),
                             ("https://example.test/empty", "text/plain", b"")):
        store.write_exchange(url, request_head=req, response_head=_head(ctype), body=body, when=WHEN,
                             extra_headers={SNAPSHOT_HEADER: "k"})
    store.write_revisit("https://example.test/page", response_head=_head("text/html"),
                        digest=warcrecords.payload_digests(PAGE)[0], refers_to_uri="https://example.test/page",
                        refers_to_date="2026-11-01T00:00:00Z", refers_to_record=None, when=WHEN,
                        request_head=req, extra_headers={SNAPSHOT_HEADER: "k"})
    doc = json.dumps({"records": [str(i) for i in range(20_000)]}).encode()
    if streamed_metadata:
        store.write_metadata_stream("urn:citevault:provenance:k", io.BytesIO(doc), len(doc),
                                    "application/json", {SNAPSHOT_HEADER: "k"})
    else:
        store.write_metadata_bytes("urn:citevault:provenance:k", doc, "application/json",
                                   {SNAPSHOT_HEADER: "k"})


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stream_over: int,
         streamed_metadata: bool) -> tuple[bytes, list[tuple[int, int, str, str]]]:
    class FixedWriter(FixedTestRecordMixin, WARCWriter):
        _ids = itertools.count(1)

    monkeypatch.setattr(warcstore, "WARCWriter", FixedWriter)
    monkeypatch.setattr(warcstore, "datetime", _FrozenClock)
    monkeypatch.setattr(warcstore, "STREAM_OVER", stream_over)
    told: list[tuple[int, int, str, str]] = []
    directory = tmp_path / f"over-{stream_over}"
    with WarcStore(directory, fsync=False) as store:
        store.listeners.append(lambda warc, written: told.extend(
            (at, n, rec.rec_headers.get_header("WARC-Record-ID"), digest) for at, n, rec, digest in written))
        _writes(store, streamed_metadata)
    (path,) = directory.glob("*.warc.gz")
    return path.read_bytes(), told


def test_streamed_records_are_byte_for_byte_the_in_memory_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole, told_whole = _run(tmp_path, monkeypatch, 1 << 40, streamed_metadata=False)
    streamed, told_streamed = _run(tmp_path, monkeypatch, 0, streamed_metadata=True)
    assert streamed == whole
    assert told_streamed == told_whole and len(told_whole) == 11
    for at, n, record_id, digest in told_whole:  # each digest is the block of its member
        raw = zlib.decompress(whole[at:at + n], 31)
        assert record_id.encode() in raw and digest == block_sha256(raw)


def test_a_big_record_is_never_serialized_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serialize = warcmember.serialize

    def small_only(record: Any, block_digest: bool = True) -> bytes:
        assert (record.payload_length or 0) <= warcstore.STREAM_OVER, "a big record serialized in memory"
        return serialize(record, block_digest)

    monkeypatch.setattr(warcstore, "serialize", small_only)
    monkeypatch.setattr(warcstore, "STREAM_OVER", 100_000)
    with WarcStore(tmp_path, fsync=False) as store:
        _writes(store, streamed_metadata=True)
    with open(next(tmp_path.glob("*.warc.gz")), "rb") as fh:
        bodies = {r.rec_headers.get_header("WARC-Target-URI"): r.content_stream().read()
                  for r in ArchiveIterator(fh) if r.rec_type == "response"}
    assert bodies["https://example.test/page"] == PAGE and bodies["https://example.test/img"] == IMAGE


@pytest.mark.parametrize("how", [warcmember.STORED, warcmember.DEFLATE, warcmember.SMALLEST])
def test_a_member_is_the_same_however_its_input_is_split(how: int) -> None:
    """zlib's stored blocks (and faster deflaters' output) depend on how the compressor's input is
    split; the Deflater hands it the same pieces whatever warcio's writes were."""
    rnd = random.Random(how)
    words = [b"archive", b"citation", b"<a href='https://example.test/p'>", b"report", b"\r\n"]
    text = b" ".join(rnd.choice(words) for _ in range(60_000))
    for data in (text, rnd.randbytes(300_000), text[:5000], b"", text[: 1 << 17]):
        rec = _record(how, data)
        assert warcmember.level(rec) == how
        raw = warcmember.serialize(rec)
        whole = warcmember.compress(rec, raw)
        assert zlib.decompress(whole, 31) == raw
        for _ in range(4):
            d = warcmember.Deflater(how)
            out, at = [], 0
            while at < len(raw):
                step = rnd.choice([1, 3, 4096, 16384, 65536, 70_000, 200_000])
                out.append(d.compress(raw[at:at + step]))
                at += step
            out.append(d.flush())
            assert b"".join(out) == whole


def _record(how: int, body: bytes) -> Any:
    """A record deflated as `how` says: an image response (stored), a resource, a metadata record."""
    w = WARCWriter(io.BytesIO(), gzip=False, warc_version="1.1")
    if how == warcmember.STORED:
        return w.create_warc_record("https://example.test/x.png", "response", payload=io.BytesIO(body),
                                    length=len(body), http_headers=_head("image/png"))
    kind = "metadata" if how == warcmember.SMALLEST else "resource"
    return w.create_warc_record("urn:x", kind, payload=io.BytesIO(body), length=len(body),
                                warc_content_type="text/html")


@pytest.mark.parametrize("separators", [(", ", ": "), (",", ":")])
def test_write_json_is_json_dumps_of_the_whole(separators: tuple[str, str]) -> None:
    doc: dict[str, Any] = {
        "type": "t", "version": 1, "z": None, "nested": {"records": [], "b": [1.5, "é", {"y": 1, "x": 2}]},
        "capture": {"records": 3}, "a\u2028": "quote \" and \\ and \n",
    }
    items = [{"uri": f"https://ex.test/{i}", "n": i, "ü": [i]} for i in range(3)]
    for lists in ({"records": items}, {"records": []}, {"records": items, "aaa": items[:1]}):
        out = io.BytesIO()
        size, digest = write_json(out, doc, {k: iter(v) for k, v in lists.items()}, separators=separators)
        want = json.dumps({**doc, **lists}, sort_keys=True, separators=separators).encode()
        assert out.getvalue() == want and size == len(want)
        assert digest == hashlib.sha256(want).hexdigest()
    out = io.BytesIO()
    write_json(out, {}, {})
    assert out.getvalue() == b"{}"
