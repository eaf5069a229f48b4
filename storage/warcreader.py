"""Reading archived records back from the WARC store's files (warcstore.py writes them): a
response's head and payload as archived, content codings undone on request."""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import BufferedReader
from warcio.recordloader import ArcWarcRecord
from warcio.statusandheaders import StatusAndHeaders

from .errors import NotFound, StorageError
from .recovery import OPEN_SUFFIX

__all__ = ["ArchivedPayload", "decode_content", "read_payload", "read_record_bytes", "resolve_path"]


@dataclass
class ArchivedPayload:
    """A response read back: its HTTP head and its payload exactly as archived."""

    record_type: str
    url: str
    warc_date: str
    http_headers: StatusAndHeaders | None
    payload: bytes  # as sent: Content-Encoding intact
    rec_headers: StatusAndHeaders

    @property
    def decoded(self) -> bytes:
        """The payload with its Content-Encoding undone."""
        enc = self.http_headers.get_header("Content-Encoding") if self.http_headers else None
        return decode_content(self.payload, enc)


def decode_content(payload: bytes, encoding: str | None) -> bytes:
    """Undo gzip/deflate/br content codings (outermost last listed) with warcio's
    `ArcWarcRecord.content_stream()`; an unknown or broken coding leaves the payload as archived."""
    data = payload
    for coding in reversed([c.strip().lower() for c in (encoding or "").split(",") if c.strip()]):
        coding = "gzip" if coding == "x-gzip" else coding
        if coding == "identity":
            continue
        if coding not in BufferedReader.get_supported_decompressors():
            return payload
        http = StatusAndHeaders("200 OK", [("Content-Encoding", coding)], protocol="HTTP/1.1")
        record = ArcWarcRecord(
            "warc", "response", StatusAndHeaders("", []), BytesIO(data), http, "", len(data)
        )
        try:
            data = record.content_stream().read()
        except Exception:
            return payload
    return data


def resolve_path(directory: Path, warc: str) -> Path:
    """The file a record lives in: the final name, or the `.open` one while still written."""
    if "/" in warc or "\\" in warc or warc.startswith("."):
        raise StorageError(f"bad WARC file name {warc!r}")
    path = directory / warc
    if path.exists():
        return path
    open_path = directory / (warc + OPEN_SUFFIX)
    if open_path.exists():
        return open_path
    raise NotFound(f"WARC file {warc} is missing from {directory}")


def read_record_bytes(directory: Path, warc: str, offset: int, length: int) -> bytes:
    """The raw (gzipped) bytes of one record, for copying into another WARC."""
    with open(resolve_path(directory, warc), "rb") as fh:
        fh.seek(offset)
        data = fh.read(length)
    if len(data) != length:
        raise StorageError(f"{warc} is shorter than the index says (offset {offset})")
    return data


def read_payload(directory: Path, warc: str, offset: int) -> ArchivedPayload:
    """Read the record at `offset` in `warc`. A damaged record is a StorageError naming it
    (`citevault verify` lists every one), never a bare parser exception."""
    with open(resolve_path(directory, warc), "rb") as fh:
        fh.seek(offset)
        try:
            for rec in ArchiveIterator(fh):
                return ArchivedPayload(
                    record_type=rec.rec_type,
                    url=rec.rec_headers.get_header("WARC-Target-URI"),
                    warc_date=rec.rec_headers.get_header("WARC-Date"),
                    http_headers=rec.http_headers,
                    payload=rec.raw_stream.read() if rec.rec_type != "revisit" else b"",
                    rec_headers=rec.rec_headers,
                )
        except Exception as exc:  # warcio, zlib and OS errors alike: the record cannot be read
            raise StorageError(
                f"the record at {warc}:{offset} is damaged ({type(exc).__name__}); "
                "run `citevault verify`"
            ) from exc
    raise StorageError(f"no record at {warc}:{offset}")
