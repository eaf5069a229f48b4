"""Fixity: read every indexed record back and check it against the index and against its own
WARC digests (`citevault verify`)."""

from __future__ import annotations

import hashlib
from base64 import b32encode
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy import select
from warcio.archiveiterator import ArchiveIterator

from .db import Index
from .errors import CitevaultError
from .models import Capture
from .warcreader import resolve_path

__all__ = ["Problem", "verify"]


@dataclass(frozen=True)
class Problem:
    """One indexed record that failed its check, and why."""

    capture_id: int
    url: str
    warc: str | None
    offset: int | None
    reason: str


def _digests_of(stream: IO[bytes]) -> tuple[str, str]:
    """(sha1 as in WARC-Payload-Digest, hex sha256) of a payload, read in chunks."""
    sha1, sha256 = hashlib.sha1(), hashlib.sha256()
    while chunk := stream.read(65536):
        sha1.update(chunk)
        sha256.update(chunk)
    return "sha1:" + b32encode(sha1.digest()).decode(), sha256.hexdigest()


def _reason(exc: Exception, limit: int = 200) -> str:
    """One printable line of at most `limit` characters: a reader's error can quote the damaged
    bytes it stopped at, which are neither text nor short."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = "".join(c if c.isprintable() and ord(c) < 0x7F else "?" for c in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
                # warcio checks the record's own block and payload digests as it is read.
                rec = next(iter(ArchiveIterator(fh, check_digests=True)), None)
                if rec is None:
                    raise CitevaultError("no record at this offset")
                if rec.rec_headers.get_header("WARC-Target-URI") != url:
                    raise CitevaultError("the record at this offset is for another URL")
                if rtype == "revisit":
                    declared = rec.rec_headers.get_header("WARC-Payload-Digest")
                    if declared != digest:
                        raise CitevaultError(f"revisit digest {declared} != index {digest}")
                    continue
                got_sha1, got_sha256 = _digests_of(rec.raw_stream)
                own = rec.digest_checker.problems
        except Exception as exc:  # any failure to read a record back is a fixity problem
            problems.append(Problem(cid, url, warc, offset, _reason(exc)))
            continue
        if got_sha1 != digest or got_sha256 != sha256:
            problems.append(Problem(cid, url, warc, offset, "payload digest differs from the index"))
        elif own:
            problems.append(Problem(cid, url, warc, offset,
                                    "the record's own digests fail: " + "; ".join(map(str, own))))
    return problems
