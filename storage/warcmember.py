"""One WARC record as one gzip member, written two ways with the same bytes: serialized and
compressed in memory (small records: one pass, the least CPU), or streamed through warcio into
the file (big records: never held whole). With each, the SHA-256 of the record's block, which a
snapshot's manifest lists (citevault.storage.manifest)."""

from __future__ import annotations

import hashlib
import zlib
from io import BytesIO
from typing import TYPE_CHECKING, BinaryIO

from warcio.recordloader import ArcWarcRecord
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

if TYPE_CHECKING:
    from zlib import _Compress

__all__ = [
    "DEFLATE", "SMALLEST", "STORED", "STREAM_OVER", "Deflater", "NoDigests", "block_sha256", "compress",
    "level", "serialize", "write_streamed",
]

# Records whose payload is larger are streamed into the file: a page of a million links is a
# 68 MB payload, and serializing it in memory held it again as the serialization, the gzip member
# and the write's join (benchmarks/history/2026-12-07-and-before.md, p-mem4, item 2). Below this, one
# in-memory pass is cheaper.
STREAM_OVER = 1 << 20

# How a record is deflated (`level`), zlib's levels: stored, the default, or the smallest.
STORED, DEFLATE, SMALLEST = 0, 6, 9

# The compressor sees its input in pieces of this size (the last one shorter), however it was
# written: zlib's stored blocks depend on how its input is split (so do faster deflaters', such as
# ISA-L's and zlib-ng's), and the streamed and the in-memory path must give the same bytes.
_PIECE = 1 << 16

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
    """How `record` is deflated. Most records: zlib's level 6 (`DEFLATE`); warcio's own gzip
    wrapper uses level 9, which costs about half as much CPU again for a size within a few percent.
    ISA-L's level 1 (python-isal) took 0.11x the CPU for 16% more bytes on 494 real HTML, CSS and
    JS files, and zlib-ng's level 6 0.55x for 0.6% more (benchmarks/history/2026-12-07-p-write6-eve.md),
    but the whole crawl of the benchmark farm took only 1-3% less CPU with ISA-L at low load, and
    on the web most text arrives gzip- or br-encoded and is stored as sent whatever the level:
    neither saving nor cost is worth a second deflate library. Payloads that are already
    compressed (images, fonts, archives, gzip/br bodies) are `STORED`: deflating them again saves
    nothing and costs 9x the time of storing (0.35 vs 0.04 ms for 32 KB). Only a response
    carries its payload: a revisit of an image is headers only, deflated like any other (stored,
    it took 800 B instead of 470: issue 15, target 3). Metadata records are deflated at level 9
    (`SMALLEST`): there are a few per snapshot, but its manifest and provenance list every
    record, and an unchanged recapture writes them again (900 KB of JSON for 1,084 URLs: 12 ms
    more than level 6, 7 B less per URL)."""
    if record.rec_type == "metadata":
        return SMALLEST
    stored = record.rec_type == "response" and _already_compressed(record.http_headers)
    return STORED if stored else DEFLATE


def _compressor(how: int) -> _Compress:
    """A compressor making one gzip member (wbits 31)."""
    return zlib.compressobj(how, zlib.DEFLATED, 31)


class NoDigests:
    """Mixed into warcio's RecordBuilder (or its WARCWriter): it adds no digest a record lacks.
    `write_revisit`'s records carry none; a request's are computed in warcrecords."""

    def ensure_digest(self, record: ArcWarcRecord, block: bool = True, payload: bool = True) -> None:
        return None


class _DigestlessWriter(NoDigests, WARCWriter):  # type: ignore[misc]  # warcio has no type hints
    """warcio's writer adding no digest a record lacks."""


def serialize(record: ArcWarcRecord, block_digest: bool = True) -> bytes:
    """The record as warcio writes it; without `block_digest`, with no digest it lacks."""
    buf = BytesIO()
    writer_type = WARCWriter if block_digest else _DigestlessWriter
    writer_type(buf, gzip=False, warc_version="1.1").write_record(record)
    return buf.getvalue()


def compress(record: ArcWarcRecord, raw: bytes) -> bytes:
    """One serialized record as one gzip member."""
    z = _compressor(level(record))
    view = memoryview(raw)
    parts = [z.compress(view[at:at + _PIECE]) for at in range(0, len(raw), _PIECE)]
    parts.append(z.flush())
    return b"".join(parts)


class Deflater:
    """One gzip member of what is written to it in pieces of any size: the bytes `compress` gives
    for the whole, since the compressor gets the same `_PIECE`-sized pieces either way."""

    def __init__(self, how: int) -> None:
        self._z = _compressor(how)
        self._held = bytearray()

    def compress(self, data: bytes) -> bytes:
        held = self._held
        held += data
        if len(held) < _PIECE:
            return b""
        whole = len(held) - len(held) % _PIECE
        with memoryview(held) as view:
            out = b"".join(self._z.compress(view[at:at + _PIECE]) for at in range(0, whole, _PIECE))
        del held[:whole]
        return out

    def flush(self) -> bytes:
        """The rest of the member; the deflater is done."""
        rest = self._z.compress(self._held) if self._held else b""
        self._held = bytearray()
        return rest + self._z.flush()


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

    def __init__(self, out: BinaryIO, how: int) -> None:
        self.out = out
        self.z = Deflater(how)
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
    """Write `record` to `out` as one gzip member, its payload read in pieces: the bytes of
    `compress(record, serialize(record))`. Returns its `block_sha256`."""
    member = _Member(out, level(record))
    WARCWriter(member, gzip=False, warc_version="1.1").write_record(record)
    return member.finish()
