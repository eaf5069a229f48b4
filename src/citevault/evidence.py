"""Evidence of an archive's snapshots, read side: what each snapshot has (provenance, manifest,
timestamps stamped, pending or absent), retrying pending timestamps, checking manifests and tokens
against the WARC files (`citevault verify` on the archive), and rebuilding the evidence rows from
the WARC files (`citevault reindex`; each snapshot is found through its manifest, whose entries
point at capture records already indexed)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from warcio.archiveiterator import ArchiveIterator

from citevault.storage.db import Index
from citevault.storage.manifest import EVIDENCE_HEADER, compare_entry, parse_manifest
from citevault.storage.models import Capture, EvidenceRecord
from citevault.storage.warcreader import read_payload, resolve_path
from citevault.storage.warcstore import SNAPSHOT_HEADER, WarcStore

from .archive import Archive

if TYPE_CHECKING:  # cryptography is 7% of `citevault list`'s start-up, which never needs it
    from cryptography import x509

__all__ = [
    "ArchiveEvidence",
    "EvidenceReindex",
    "check_archive_evidence",
    "reindex_evidence",
    "snapshot_evidence",
    "stamp_pending",
    "tsa_roots",
]


def _iso(value: Any) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if value is not None else None


def snapshot_evidence(s: Session, snapshot_id: int) -> dict[str, Any]:
    """The evidence of one snapshot as the API and CLI show it. `timestamp` sums it up:
    "stamped" (a token from every TSA asked), "pending" (some TSA still to answer) or "absent"."""
    rows = list(s.scalars(
        select(EvidenceRecord).where(EvidenceRecord.snapshot_id == snapshot_id).order_by(EvidenceRecord.id)
    ))
    manifest = next((r for r in rows if r.kind == "manifest"), None)
    stamps = [r for r in rows if r.kind == "timestamp"]
    if not stamps:
        summary = "absent"
    elif any(r.state == "pending" for r in stamps):
        summary = "pending"
    else:
        summary = "stamped"
    return {
        "provenance": any(r.kind == "provenance" for r in rows),
        "manifest_sha256": manifest.sha256 if manifest else None,
        "timestamp": summary,
        "timestamps": [
            {"tsa": r.tsa_url, "state": "stamped" if r.state == "written" else "pending",
             "time": _iso(r.gen_time), "attempts": r.attempts, "error": r.error}
            for r in stamps
        ],
    }


def stamp_pending(archive: Archive) -> tuple[int, int]:
    """Ask the TSAs again for every pending timestamp; returns (stamped now, still pending).
    Tokens are written to a WARC file of their own (the capture's file is closed)."""
    from citevault.crawler.seal import stamp_pending as _stamp

    st = archive.settings
    with archive.index.session() as s:
        waiting = s.scalar(select(EvidenceRecord.id).where(
            EvidenceRecord.kind == "timestamp", EvidenceRecord.state == "pending").limit(1))
    if waiting is None:
        return 0, 0
    with WarcStore(archive.warc_dir, prefix=st.warc_prefix, max_size=st.warc_max_size,
                   software="citevault (timestamps)") as store:
        return _stamp(archive.index, store, timeout=st.tsa_timeout)


def tsa_roots(path: Path | None) -> list[x509.Certificate]:
    """Trust anchors for timestamp tokens from a PEM file (none without one)."""
    from citevault.crawler.timestamps import load_tsa_roots

    return load_tsa_roots(path) if path is not None else []


@dataclass
class ArchiveEvidence:
    """What `verify` found of the archive's evidence."""

    manifests: int = 0
    records: int = 0  # records checked against their manifest entries
    stamped: int = 0  # tokens verified
    pending: int = 0
    unchecked: int = 0  # tokens stamping the right digest, with no trust anchor to check them
    problems: list[str] = field(default_factory=list)


def _record_at(warc_dir: Path, warc: str, offset: int, listed: dict[str, Any]) -> str | None:
    with open(resolve_path(warc_dir, warc), "rb") as fh:
        fh.seek(offset)
        rec = next(iter(ArchiveIterator(fh, no_record_parse=True)), None)
        if rec is None:
            return "no record at its place"
        if rec.rec_headers.get_header("WARC-Record-ID") != listed.get("record_id"):
            return "another record is at its place"
        return compare_entry(rec, listed)


def check_archive_evidence(archive: Archive, roots: list[x509.Certificate]) -> ArchiveEvidence:
    """Each manifest against its digest in the index and each record it lists; each token
    against the manifest digest and (with `roots`) its TSA's signature."""
    from citevault.crawler.timestamps import TimestampError, read_token, verify_token

    out = ArchiveEvidence()
    with archive.index.session() as s:
        rows = list(s.scalars(select(EvidenceRecord).order_by(EvidenceRecord.id)))
        s.expunge_all()
    for row in rows:
        where = f"snapshot {row.snapshot_id} {row.kind}"
        if row.state == "pending":
            out.pending += 1
            continue
        if row.warc is None or row.offset is None:
            continue
        try:
            body = read_payload(archive.warc_dir, row.warc, row.offset).payload
        except Exception as exc:  # missing file, damaged record
            out.problems.append(f"{where}: {exc}")
            continue
        if row.kind == "manifest":
            out.manifests += 1
            if hashlib.sha256(body).hexdigest() != row.sha256:
                out.problems.append(f"{where}: the manifest record's SHA-256 differs from the index")
                continue
            doc = parse_manifest(body)
            for listed in (doc or {}).get("records", []):
                try:
                    why = _record_at(archive.warc_dir, str(listed["warc"]), int(listed["offset"]), listed)
                except Exception as exc:
                    why = str(exc)
                out.records += 1
                if why:
                    out.problems.append(f"{where}: record {listed.get('record_id')} "
                                        f"({listed.get('target_uri')}): {why}")
        elif row.kind == "timestamp" and row.sha256:
            try:
                if roots:
                    verify_token(body, row.sha256, roots)
                    out.stamped += 1
                elif read_token(body).digest_hex != row.sha256:
                    raise TimestampError("the token stamps another digest than the manifest's")
                else:
                    out.unchecked += 1
            except TimestampError as exc:
                out.problems.append(f"{where} from {row.tsa_url}: {exc}")
    return out


# -- reindex ---------------------------------------------------------------------------------------
_TSA_HEADER = "WARC-Citevault-TSA"


@dataclass
class EvidenceReindex:
    added: int = 0
    manifests: int = 0


@dataclass
class _Found:
    kind: str
    key: str
    warc: str
    offset: int
    length: int
    record_id: str | None
    body: bytes
    tsa: str | None


def _scan(warc_dir: Path, known: set[tuple[str, int]]) -> list[_Found]:
    found: list[_Found] = []
    for path in sorted(warc_dir.glob("*.warc.gz")) + sorted(warc_dir.glob("*.warc")):
        with open(path, "rb") as fh:
            it = ArchiveIterator(fh, no_record_parse=True)
            for rec in it:
                head = rec.rec_headers
                kind = head.get_header(EVIDENCE_HEADER)
                if rec.rec_type != "metadata" or kind not in ("provenance", "manifest", "timestamp"):
                    continue
                body = rec.raw_stream.read()
                offset = it.get_record_offset()
                if (path.name, offset) in known:
                    continue
                found.append(_Found(kind, str(head.get_header(SNAPSHOT_HEADER) or ""), path.name, offset,
                                    it.get_record_length(), head.get_header("WARC-Record-ID"), body,
                                    head.get_header(_TSA_HEADER)))
    return found


def reindex_evidence(index: Index, warc_dir: Path) -> EvidenceReindex:
    """Add the evidence rows the index lacks (matched by file and offset). Timestamps a TSA never
    gave leave no record, so they do not come back as pending."""
    from citevault.crawler.timestamps import TimestampError, read_token

    result = EvidenceReindex()
    with index.session() as s:
        known = {(w, o) for w, o in s.execute(select(EvidenceRecord.warc, EvidenceRecord.offset))
                 if w is not None and o is not None}
    found = _scan(warc_dir, known)
    snapshots: dict[str, int | None] = {}
    with index.session() as s:
        for f in found:
            if f.kind != "manifest":
                continue
            result.manifests += 1
            doc = parse_manifest(f.body) or {}
            places = [(str(e.get("warc")), int(e.get("offset", -1))) for e in doc.get("records", [])]
            for warc, offset in places:
                sid = s.scalar(
                    select(Capture.snapshot_id).where(Capture.warc == warc, Capture.offset == offset)
                )
                if sid is not None:
                    snapshots[f.key] = sid
                    break
        for f in found:
            row = EvidenceRecord(
                snapshot_id=snapshots.get(f.key), snapshot_key=f.key, kind=f.kind, state="written",
                warc=f.warc, offset=f.offset, record_length=f.length, record_id=f.record_id,
                attempts=0, created_at=datetime.now(UTC).replace(tzinfo=None),
            )
            if f.kind == "manifest":
                row.sha256 = hashlib.sha256(f.body).hexdigest()
            elif f.kind == "timestamp":
                row.tsa_url = f.tsa
                try:
                    token = read_token(f.body)
                except TimestampError:
                    continue  # an unreadable token: `verify` reports it from the manifest's side
                row.sha256 = token.digest_hex
                row.gen_time = token.gen_time.astimezone(UTC).replace(tzinfo=None)
            s.add(row)
            result.added += 1
    return result
