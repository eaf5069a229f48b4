"""Manifests: the records written for a snapshot are listed as written, and a record read back is
matched against its entry (or the difference is named)."""

from __future__ import annotations

import hashlib
import io
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders

from citevault.storage.manifest import (
    EVIDENCE_HEADER,
    ManifestBook,
    compare_entry,
    manifest_body,
    parse_manifest,
    write_manifest_body,
)
from citevault.storage.warcstore import SNAPSHOT_HEADER, WarcStore


def _write(store: WarcStore, key: str | None, url: str, body: bytes) -> None:
    extra = {SNAPSHOT_HEADER: key} if key else {}
    store.write_exchange(
        url, request_head=StatusAndHeaders("GET / HTTP/1.1", [("Host", "example.test")], protocol=""),
        response_head=StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1"),
        body=body, when=datetime.now(UTC), extra_headers=extra,
    )


def test_book_lists_each_snapshots_records_and_they_match(tmp_path: Path) -> None:
    book = ManifestBook()
    with WarcStore(tmp_path, prefix="m") as store:
        store.listeners.append(book)
        _write(store, "k1", "https://example.test/a", b"<p>a</p>")
        _write(store, "k2", "https://example.test/b", b"<p>b</p>")
        _write(store, None, "https://example.test/c", b"<p>c</p>")  # no snapshot: not listed
        store.write_metadata("urn:citevault:provenance:k1", {"x": 1}, {SNAPSHOT_HEADER: "k1"})
        store.write_metadata("urn:citevault:manifest:k1", {"x": 2},
                             {SNAPSHOT_HEADER: "k1", EVIDENCE_HEADER: "manifest"})  # never lists itself
    k1 = book.pop("k1")
    assert [(e.type, e.target_uri) for e in k1] == [
        ("response", "https://example.test/a"), ("request", "https://example.test/a"),
        ("metadata", "urn:citevault:provenance:k1"),
    ]
    assert len(book.pop("k2")) == 2 and book.pop("k1") == []
    book.close()

    doc = parse_manifest(manifest_body("k1", "2026-12-01T00:00:00Z", k1))
    assert doc is not None
    (path,) = tmp_path.glob("*.warc.gz")
    for listed in doc["records"]:
        with open(path, "rb") as fh:
            fh.seek(listed["offset"])
            rec = next(iter(ArchiveIterator(fh, no_record_parse=True)))
            assert compare_entry(rec, listed) is None
    first = dict(doc["records"][0], block_sha256="sha256:" + "0" * 64)
    with open(path, "rb") as fh:
        fh.seek(first["offset"])
        rec = next(iter(ArchiveIterator(fh, no_record_parse=True)))
        assert "its block hashes to sha256:" in str(compare_entry(rec, first))
    moved = dict(doc["records"][0], target_uri="https://elsewhere.test/")
    with open(path, "rb") as fh:
        fh.seek(moved["offset"])
        rec = next(iter(ArchiveIterator(fh, no_record_parse=True)))
        assert compare_entry(rec, moved) == (
            "WARC-Target-URI is 'https://example.test/a', the manifest says 'https://elsewhere.test/'"
        )


def test_an_entry_as_a_dict_has_every_field_in_order() -> None:
    """as_dict (a manifest's records, hashed for the TSAs) is what dataclasses.asdict gives."""
    from dataclasses import asdict

    from citevault.storage.manifest import ManifestEntry

    entry = ManifestEntry("<urn:uuid:1>", "response", "https://example.test/", "2026-12-01T00:00:00Z",
                          "sha256:" + "1" * 64, None, "sha1:X", "m-1.warc.gz", 120, 345)
    assert list(entry.as_dict().items()) == list(asdict(entry).items())


def test_parse_manifest_refuses_other_documents() -> None:
    assert parse_manifest(b"not json") is None
    assert parse_manifest(b'{"type": "citevault-snapshot"}') is None
    assert parse_manifest(b'{"type": "citevault-manifest", "records": {}}') is None


def test_manifest_streamed_from_the_book_to_the_warc(tmp_path: Path) -> None:
    """Entries read one at a time, the body written piece by piece, the record compressed as it is
    read: byte for byte what the whole-document path gives, and a record that reads back whole."""
    book = ManifestBook()
    with WarcStore(tmp_path, prefix="s") as store:
        store.listeners.append(book)
        for i in range(5):
            _write(store, "k1", f"https://example.test/{i}", b"<p>%d</p>" % i)
        listed = book.pop("k1")
        for i in range(5):  # pop forgot them: the same records again, for the streamed path
            _write(store, "k1", f"https://example.test/{i}", b"<p>%d</p>" % i)
        streamed = list(book.entries("k1"))
        assert [e.target_uri for e in streamed] == [e.target_uri for e in listed]
        out = io.BytesIO()
        size, digest = write_manifest_body(out, "k1", "2026-12-01T00:00:00Z", book.entries("k1"))
        whole = manifest_body("k1", "2026-12-01T00:00:00Z", streamed)
        assert out.getvalue() == whole and size == len(whole)
        assert digest == hashlib.sha256(whole).hexdigest()
        book.forget("k1")
        assert list(book.entries("k1")) == []
        out.seek(0)
        man = store.write_metadata_stream("urn:citevault:manifest:k1", out, size, "application/json",
                                          {SNAPSHOT_HEADER: "k1", EVIDENCE_HEADER: "manifest"})
        _write(store, "k1", "https://example.test/after", b"<p>after</p>")  # the file goes on after it
    book.close()
    (path,) = tmp_path.glob("*.warc.gz")
    with open(path, "rb") as fh:
        fh.seek(man.offset)
        rec = next(iter(ArchiveIterator(fh)))
        assert rec.rec_headers.get_header("WARC-Target-URI") == "urn:citevault:manifest:k1"
        assert rec.content_stream().read() == whole
    with open(path, "rb") as fh:
        urls = [r.rec_headers.get_header("WARC-Target-URI") for r in ArchiveIterator(fh)]
    assert urls[-2:] == ["https://example.test/after", "https://example.test/after"]
    assert len(urls) == 1 + 2 * 10 + 1 + 2  # the warcinfo record first


def test_many_snapshots_written_in_turn_keep_every_entry(tmp_path: Path) -> None:
    """More snapshots than the book keeps files open for, written in turn: each lists all of its
    records in order, and the book's open files stay bounded."""
    fds = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    book = ManifestBook()
    keys = [f"k{i}" for i in range(40)]
    with WarcStore(tmp_path, prefix="n") as store:
        store.listeners.append(book)
        for round_ in range(3):
            for key in keys:
                _write(store, key, f"https://example.test/{key}/{round_}", b"<p>x</p>")
        if fds is not None:
            # The WARC file and a few of its own, and at most 16 of the book (not 40).
            assert len(os.listdir("/proc/self/fd")) <= fds + 4 + 16
        for key in keys:
            responses = [e.target_uri for e in book.entries(key) if e.type == "response"]
            assert responses == [f"https://example.test/{key}/{r}" for r in range(3)]
        book.forget("k0")
        _write(store, "k0", "https://example.test/k0/again", b"<p>y</p>")
        assert [e.target_uri for e in book.entries("k0")][0] == "https://example.test/k0/again"
    book.close()


def test_the_books_entry_is_entry_of_the_record(tmp_path: Path) -> None:
    """What the book writes per record is `entry_of(...).as_dict()`, key for key, in order (a
    repeated header counts by its first value, as warcio's get_header reads it)."""
    from citevault.storage.manifest import _entry_dict, entry_of

    seen: list[tuple[str, list[Any]]] = []
    with WarcStore(tmp_path, prefix="e") as store:
        store.listeners.append(lambda warc, written: seen.append((warc, written)))
        _write(store, "k1", "https://example.test/a", b"<p>a</p>")
    (warc, written), = seen
    for offset, length, rec, digest in written:
        rec.rec_headers.headers.append(("WARC-Target-URI", "https://elsewhere.test/"))
        got = _entry_dict(rec, digest, warc, offset, length)
        assert list(got.items()) == list(entry_of(rec, digest, warc, offset, length).as_dict().items())
        assert got["target_uri"] == "https://example.test/a"
