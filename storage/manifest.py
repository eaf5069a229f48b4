"""Snapshot manifests: every WARC record a snapshot wrote (WARC-Record-ID, target URI, date, block
and payload digests, where it lies), gathered while the records are written, and the checks of a
record against its manifest entry that `verify` runs on the archive and on a WACZ."""

from __future__ import annotations

import hashlib
import json
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO, Any

from warcio.recordloader import ArcWarcRecord

from .warcmember import block_sha256
from .warcstore import SNAPSHOT_HEADER

__all__ = [
    "EVIDENCE_HEADER",
    "FETCHED_TYPES",
    "MANIFEST_TYPE",
    "ManifestBook",
    "ManifestEntry",
    "block_sha256",
    "compare_entry",
    "entry_of",
    "manifest_body",
    "mismatch",
    "write_json",
    "write_manifest_body",
    "parse_manifest",
    "record_facts",
]

# Names the kind of an evidence record (provenance|manifest|timestamp); also what a manifest skips.
EVIDENCE_HEADER = "WARC-Citevault-Evidence"
MANIFEST_TYPE = "citevault-manifest"
_OPEN_FILES = 16  # snapshots' entry files a book keeps open at once


# The types of the records a crawl fetched, as a manifest lists them (the rest are its requests
# and the snapshot's metadata and evidence records).
FETCHED_TYPES = ("response", "revisit", "resource")


@dataclass(frozen=True)
class ManifestEntry:
    """One record as its manifest lists it. `block_sha256` is computed by us over the record
    block; the two WARC digests are the record's own headers, listed so a change of them shows."""

    record_id: str
    type: str
    target_uri: str | None
    date: str | None
    block_sha256: str
    block_digest: str | None
    payload_digest: str | None
    warc: str
    offset: int
    length: int

    def as_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict: its recursive deep copy, for ten plain fields, was the biggest
        # part of the manifest's cost in a crawl (twice per record: written, then sealed).
        return {name: getattr(self, name) for name in _ENTRY_FIELDS}


_ENTRY_FIELDS = tuple(f.name for f in fields(ManifestEntry))


def _stream_sha256(stream: IO[bytes]) -> str:
    h = hashlib.sha256()
    while chunk := stream.read(65536):
        h.update(chunk)
    return "sha256:" + h.hexdigest()


def entry_of(rec: ArcWarcRecord, block_digest: str, warc: str, offset: int, length: int) -> ManifestEntry:
    return ManifestEntry(**_entry_dict(rec, block_digest, warc, offset, length))


def _entry_dict(rec: ArcWarcRecord, block_digest: str, warc: str, offset: int, length: int) -> dict[str, Any]:
    """`entry_of(...).as_dict()`, without the object, the headers read in one pass: warcio's
    get_header scans (and lower-cases) every header per name, 60% of a record's manifest cost."""
    head: dict[str, str] = {}
    for name, value in rec.rec_headers.headers:
        head.setdefault(name.lower(), value)  # the first of a repeated header, as get_header
    return {
        "record_id": str(head.get("warc-record-id")),
        "type": str(rec.rec_type),
        "target_uri": head.get("warc-target-uri"),
        "date": head.get("warc-date"),
        "block_sha256": block_digest,
        "block_digest": head.get("warc-block-digest"),
        "payload_digest": head.get("warc-payload-digest"),
        "warc": warc,
        "offset": offset,
        "length": length,
    }


def record_facts(rec: ArcWarcRecord) -> dict[str, Any]:
    """What a manifest entry says of a record, read back (warcio, with `no_record_parse=True` so
    that `raw_stream` is the whole block). Reads the block."""
    head = rec.rec_headers
    return {
        "record_id": head.get_header("WARC-Record-ID"),
        "type": rec.rec_type,
        "target_uri": head.get_header("WARC-Target-URI"),
        "date": head.get_header("WARC-Date"),
        "block_digest": head.get_header("WARC-Block-Digest"),
        "payload_digest": head.get_header("WARC-Payload-Digest"),
        "block_sha256": _stream_sha256(rec.raw_stream),
    }


_FIELDS = (("type", "WARC-Type"), ("target_uri", "WARC-Target-URI"), ("date", "WARC-Date"),
           ("block_digest", "WARC-Block-Digest"), ("payload_digest", "WARC-Payload-Digest"))


def mismatch(facts: dict[str, Any], listed: dict[str, Any]) -> str | None:
    """Why a record's facts differ from its manifest entry, or None when they match."""
    for key, name in _FIELDS:
        if facts.get(key) != listed.get(key):
            return f"{name} is {facts.get(key)!r}, the manifest says {listed.get(key)!r}"
    got, want = facts.get("block_sha256"), listed.get("block_sha256")
    if got != want:
        return f"its block hashes to {got}, the manifest says {want}"
    return None


def compare_entry(rec: ArcWarcRecord, listed: dict[str, Any]) -> str | None:
    """Why a record read back differs from its manifest entry, or None when it matches."""
    return mismatch(record_facts(rec), listed)


class ManifestBook:
    """A WarcStore listener: per snapshot key, the entries of the records written for it. The
    records of one write (a response and its request) belong to the first one's snapshot.
    Manifests and timestamp tokens are not listed (a manifest cannot list itself).

    Entries wait in a file per snapshot, not in memory, so a crawl's memory stays flat however
    many records it writes (a `--scope all` crawl of 100k URLs would otherwise hold ~100 MB)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._dir = tempfile.TemporaryDirectory(prefix="citevault-manifest-")
        self._keys: dict[str, Path] = {}
        # The files written to lately stay open, most recent last: opening one per write was
        # 11 us of the record's CPU (and 100 us of wall time under load; p-cpu5). A bounded
        # number, so that a crawl of many seeds (a snapshot each) never runs out of descriptors.
        self._open: OrderedDict[str, IO[str]] = OrderedDict()

    def _path(self, key: str) -> Path:
        if key not in self._keys:
            self._keys[key] = Path(self._dir.name) / (hashlib.sha1(key.encode()).hexdigest() + ".jsonl")
        return self._keys[key]

    def __call__(self, warc: str, written: list[tuple[int, int, ArcWarcRecord, str]]) -> None:
        if not written:
            return
        first = written[0][2].rec_headers
        key = first.get_header(SNAPSHOT_HEADER)
        if not key or first.get_header(EVIDENCE_HEADER) in ("manifest", "timestamp"):
            return
        lines = "".join(
            json.dumps(_entry_dict(rec, digest, warc, offset, length)) + "\n"
            for offset, length, rec, digest in written
        )
        with self._lock:
            fh = self._file(key)
            fh.write(lines)
            fh.flush()  # `entries` reads the file by its name: what is written is there

    def _file(self, key: str) -> IO[str]:
        fh = self._open.get(key)
        if fh is not None:
            self._open.move_to_end(key)
            return fh
        fh = self._open[key] = open(self._path(key), "a", encoding="utf-8")
        if len(self._open) > _OPEN_FILES:
            self._open.popitem(last=False)[1].close()
        return fh

    def _close(self, key: str) -> None:
        fh = self._open.pop(key, None)
        if fh is not None:
            fh.close()

    def entries(self, key: str) -> Iterator[ManifestEntry]:
        """The entries of a snapshot so far, read from its file one at a time (a crawl of 100,000
        URLs has 200,000: about 200 MB as objects)."""
        with self._lock:
            path = self._keys.get(key)
        if path is None or not path.exists():
            return
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield ManifestEntry(**json.loads(line))

    def forget(self, key: str) -> None:
        with self._lock:
            self._close(key)
            path = self._keys.pop(key, None)
        if path is not None:
            path.unlink(missing_ok=True)

    def pop(self, key: str) -> list[ManifestEntry]:
        """The entries of a snapshot so far, forgotten here."""
        entries = list(self.entries(key))
        self.forget(key)
        return entries

    def close(self) -> None:
        with self._lock:
            for key in list(self._open):
                self._close(key)
        self._dir.cleanup()


def _manifest_head(snapshot_key: str, created: str) -> dict[str, Any]:
    return {"type": MANIFEST_TYPE, "version": 1, "snapshot_key": snapshot_key, "created": created,
            "digest_algorithm": "sha256"}


def manifest_body(snapshot_key: str, created: str, entries: Iterable[ManifestEntry]) -> bytes:
    """The manifest record's block: canonical JSON (sorted keys, no spaces), so that its SHA-256,
    the digest sent to the TSAs, is stable."""
    doc = {**_manifest_head(snapshot_key, created), "records": [e.as_dict() for e in entries]}
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def write_json(out: IO[bytes], doc: dict[str, Any], lists: dict[str, Iterable[Any]], *,
               separators: tuple[str, str] = (", ", ": ")) -> tuple[int, str]:
    """`json.dumps({**doc, **lists}, sort_keys=True, separators=separators).encode()` byte for
    byte, each list of `lists` read and written one item at a time (a snapshot of 100,000 URLs
    lists 200,000 records); (bytes, SHA-256 hex)."""
    item_sep, key_sep = separators
    h, size = hashlib.sha256(), 0

    def put(text: str) -> None:
        nonlocal size
        data = text.encode()
        h.update(data)
        out.write(data)
        size += len(data)

    for i, key in enumerate(sorted({**doc, **lists})):
        put(("{" if i == 0 else item_sep) + json.dumps(key) + key_sep)
        if key not in lists:
            put(json.dumps(doc[key], sort_keys=True, separators=separators))
            continue
        put("[")
        for j, item in enumerate(lists[key]):
            put((item_sep if j else "") + json.dumps(item, sort_keys=True, separators=separators))
        put("]")
    put("}" if doc or lists else "{}")
    return size, h.hexdigest()


def write_manifest_body(out: IO[bytes], snapshot_key: str, created: str,
                        entries: Iterable[ManifestEntry]) -> tuple[int, str]:
    """`manifest_body`, byte for byte, written to `out` one entry at a time; (bytes, SHA-256 hex)."""
    records = (e.as_dict() for e in entries)
    return write_json(out, _manifest_head(snapshot_key, created), {"records": records}, separators=(",", ":"))


def parse_manifest(body: bytes) -> dict[str, Any] | None:
    """A manifest document, or None when `body` is not one."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if not isinstance(doc, dict) or doc.get("type") != MANIFEST_TYPE:
        return None
    if not isinstance(doc.get("records"), list):
        return None
    return doc
