"""One WARC record as one gzip member, written two ways with the same bytes: serialized and
compressed in memory (small records: one zlib call, the least CPU), or streamed through warcio
into the file (big records: never held whole). With each, the SHA-256 of the record's block,
which a snapshot's manifest lists (citevault.storage.manifest)."""

from __future__ import annotations

import hashlib
import zlib
from io import BytesIO
from typing import BinaryIO

from warcio.recordloader import ArcWarcRecord
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

__all__ = ["STREAM_OVER", "block_sha256", "compress", "level", "serialize", "streamable", "write_streamed"]

# Records whose payload is larger are streamed into the file: a page of a million links is a
# 68 MB payload, and serializing it in memory held it again as the serialization, the gzip member
# and the write's join (benchmarks/history/2026-12-07-and-before.md, p-mem4, item 2). Below this, one
# in-memory pass is cheaper.
STREAM_OVER = 1 << 20

_COMPRESSED_TYPES = ("image/", "video/", "audio/", "font/woff", "application/zip", "application/gzip",
                     "application/pdf", "application/x-font-woff", "application/octet-stream")


def _already_compressed(http: StatusAndHeaders | None) -> bool:
    if http is None:
        return False
    if (http.get_header("Content-Encoding") or "identity").lower() not in ("identity", ""):
        return True
    ctype = (http.get_header("Content-Type") or "").lower()
    return ctype.startswith(_COMPRESSED_TYPES) and "svg" not in ctype


def level(record: ArcWarcRecord) -> int:
    """warcio's own gzip wrapper compresses at level 9; level 6 costs about half the CPU for a
    size within a few percent. Payloads that are already compressed (images, fonts, archives,
    gzip/br bodies) are stored (level 0): deflating them again saves nothing and costs 9x the time
    of storing (0.35 vs 0.04 ms for 32 KB). Only a response carries its payload: a revisit of an
    image is headers only, deflated like any other (stored, it took 800 B instead of 470: issue
    15, target 3). Metadata records are deflated at level 9: there are a few per snapshot, but
    its manifest and provenance list every record (900 KB of JSON for 1,084 URLs: 12 ms more, 7 B
    less per URL)."""
    if record.rec_type == "metadata":
        return 9
    stored = record.rec_type == "response" and _already_compressed(record.http_headers)
    return 0 if stored else 6


def streamable(record: ArcWarcRecord) -> bool:
    """Whether `write_streamed` gives the bytes `compress(serialize(...))` gives. zlib's deflate
    output does not depend on how its input is split at levels 1-9, but stored blocks (level 0)
    do: an already-compressed payload stays on the in-memory path."""
    return level(record) != 0


def serialize(record: ArcWarcRecord, block_digest: bool = True) -> bytes:
    """The record as warcio writes it; without `block_digest`, with no digest it lacks."""
    buf = BytesIO()
    writer = WARCWriter(buf, gzip=False, warc_version="1.1")
    if not block_digest:
        writer.ensure_digest = lambda *args, **kwargs: None
    writer.write_record(record)
    return buf.getvalue()


def compress(record: ArcWarcRecord, raw: bytes) -> bytes:
    """One serialized record as one gzip member."""
    z = zlib.compressobj(level(record), zlib.DEFLATED, 31)  # wbits 31: a gzip member
    return z.compress(raw) + z.flush()


def block_sha256(raw_record: bytes) -> str:
    """"sha256:HEX" of the block of an uncompressed, serialized WARC record (after the header
    block's blank line, without the two CRLFs that end the record)."""
    end = raw_record.find(b"\r\n\r\n")
    stop = len(raw_record) - 4 if raw_record.endswith(b"\r\n\r\n") and len(raw_record) >= end + 8 else None
    # A view, not slices: each slice copied the record (twice 68 MB for a page of a million links).
    block = memoryview(raw_record)[end + 4:stop]
    return "sha256:" + hashlib.sha256(block).hexdigest()


class _Member:
    """What warcio writes, deflated into one gzip member on `out`; the block is hashed on the way
    (`block_sha256` of the same bytes): warcio writes the WARC header block first, in one write,
    then the HTTP headers, the payload in 16 KB pieces, and the record's closing CRLF CRLF."""

    def __init__(self, out: BinaryIO, level: int) -> None:
        self.out = out
        self.z = zlib.compressobj(level, zlib.DEFLATED, 31)
        self.h = hashlib.sha256()
        self.head_done = False
        self.tail = b""  # the last 4 bytes seen, not hashed yet: the closing CRLF CRLF

    def write(self, data: bytes) -> int:
        self.out.write(self.z.compress(data))
        if not self.head_done:
            self.head_done = True
        elif len(data) >= 4:
            self.h.update(self.tail)
            self.h.update(memoryview(data)[:-4])
            self.tail = data[-4:]
        else:
            both = self.tail + data
            self.h.update(both[:-4])
            self.tail = both[-4:]
        return len(data)

    def flush(self) -> None:
        return None

    def finish(self) -> str:
        self.out.write(self.z.flush())
        assert self.tail == b"\r\n\r\n", self.tail
        return "sha256:" + self.h.hexdigest()


def write_streamed(record: ArcWarcRecord, out: BinaryIO) -> str:
    """Write `record` to `out` as one gzip member, its payload read in pieces (`streamable` says
    when the bytes are those of the in-memory path); returns its `block_sha256`."""
    member = _Member(out, level(record))
    WARCWriter(member, gzip=False, warc_version="1.1").write_record(record)
    return member.finish()
