"""Fixity and recovery: check every indexed record against its WARC file (`verify`), and rebuild
the capture index from the WARC files alone (`reindex`)."""

from __future__ import annotations

import hashlib
from base64 import b32encode
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from sqlalchemy import select
from warcio.archiveiterator import ArchiveIterator

from .db import Index
from .errors import CitevaultError
from .index import surt_key
from .models import Capture
from .warcstore import OPEN_SUFFIX, ROLE_HEADER, payload_digests, resolve_path

__all__ = ["Problem", "ReindexResult", "reindex", "verify"]


@dataclass(frozen=True)
class Problem:
    capture_id: int
    url: str
    warc: str | None
    offset: int | None
    reason: str


def _digest_of(stream: IO[bytes]) -> tuple[str, str, int]:
    sha1, sha256, n = hashlib.sha1(), hashlib.sha256(), 0
    while chunk := stream.read(65536):
        sha1.update(chunk)
        sha256.update(chunk)
        n += len(chunk)
    return "sha1:" + b32encode(sha1.digest()).decode(), sha256.hexdigest(), n


def verify(index: Index, warc_dir: Path, on_item: Callable[[int], None] | None = None) -> list[Problem]:
    """Read every indexed record back and compare its payload digest with the index and with
    the record's own WARC-Payload-Digest. Returns the problems found (empty: all good)."""
    problems: list[Problem] = []
    with index.session() as s:
        caps = s.execute(
            select(Capture.id, Capture.url, Capture.warc, Capture.offset, Capture.digest,
                   Capture.sha256, Capture.record_type)
            .where(Capture.warc.is_not(None)).order_by(Capture.warc, Capture.offset)
        ).all()
    for n, (cid, url, warc, offset, digest, sha256, rtype) in enumerate(caps, 1):
        if on_item:
            on_item(n)
        assert warc is not None and offset is not None  # selected so
        try:
            with open(resolve_path(warc_dir, warc), "rb") as fh:
                fh.seek(offset)
                rec = next(iter(ArchiveIterator(fh)), None)
                if rec is None:
                    raise CitevaultError("no record at this offset")
                if rec.rec_headers.get_header("WARC-Target-URI") != url:
                    raise CitevaultError("the record at this offset is for another URL")
                declared = rec.rec_headers.get_header("WARC-Payload-Digest")
                if rtype == "revisit":
                    if declared != digest:
                        raise CitevaultError(f"revisit digest {declared} != index {digest}")
                    continue
                got_sha1, got_sha256, _ = _digest_of(rec.raw_stream)
        except Exception as exc:  # any failure to read a record back is a fixity problem
            problems.append(Problem(cid, url, warc, offset, str(exc)))
            continue
        if got_sha1 != digest or got_sha256 != sha256:
            problems.append(Problem(cid, url, warc, offset, "payload digest differs from the index"))
        elif declared and declared != got_sha1:
            problems.append(Problem(cid, url, warc, offset, "payload digest differs from the record"))
    return problems


@dataclass
class ReindexResult:
    files: int = 0
    records: int = 0
    added: int = 0
    skipped_open: list[str] = field(default_factory=list)


def _warc_files(warc_dir: Path) -> list[Path]:
    return sorted(warc_dir.glob("*.warc.gz")) + sorted(warc_dir.glob("*.warc"))


def reindex(index: Index, warc_dir: Path) -> ReindexResult:
    """Add a Capture row for every response/revisit record of the closed WARC files that the
    index lacks (matched by file and offset). Files still being written (.open) are skipped."""
    result = ReindexResult()
    result.skipped_open = sorted(p.name for p in warc_dir.glob(f"*{OPEN_SUFFIX}"))
    with index.session() as s:
        known = {(w, o) for w, o in s.execute(select(Capture.warc, Capture.offset)).all()}
    for path in _warc_files(warc_dir):
        result.files += 1
        rows: list[Capture] = []
        with open(path, "rb") as fh:
            it = ArchiveIterator(fh)
            for rec in it:
                if rec.rec_type not in ("response", "revisit", "resource"):
                    continue
                result.records += 1
                url = rec.rec_headers.get_header("WARC-Target-URI")
                payload = rec.raw_stream.read() if rec.rec_type != "revisit" else b""
                offset = it.get_record_offset()  # reads to the end of the record: after the payload
                if (path.name, offset) in known:
                    continue
                date = rec.rec_headers.get_header("WARC-Date") or ""
                ts = "".join(ch for ch in date if ch.isdigit())[:14]
                http = rec.http_headers
                ctype = http.get_header("Content-Type") if http else None
                digest: str | None
                sha256: str | None
                digest, sha256 = payload_digests(payload)
                if rec.rec_type == "revisit":
                    digest, sha256 = rec.rec_headers.get_header("WARC-Payload-Digest"), None
                rows.append(Capture(
                    url=url, surt=surt_key(url), timestamp=ts,
                    status=int(http.get_statuscode()) if http and http.get_statuscode().isdigit() else None,
                    mime=ctype.split(";")[0].strip().lower() if ctype else None,
                    digest=digest, sha256=sha256, length=len(payload),
                    warc=path.name, offset=offset, record_length=it.get_record_length(),
                    record_type=rec.rec_type,
                    role=rec.rec_headers.get_header(ROLE_HEADER) or "requisite",
                ))
        if rows:
            with index.session() as s:
                s.add_all(rows)
            result.added += len(rows)
    return result
