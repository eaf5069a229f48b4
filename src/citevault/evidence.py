"""Evidence of an archive's snapshots, read side: what each snapshot has (provenance, manifest,
timestamps stamped, pending or absent), retrying pending timestamps, and checking manifests and
tokens against the WARC files (`citevault verify` on the archive)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session
from warcio.archiveiterator import ArchiveIterator

from citevault.storage.manifest import compare_entry, parse_manifest
from citevault.storage.models import EvidenceRecord
from citevault.storage.warcstore import WarcStore, read_payload, resolve_path

from .archive import Archive

__all__ = ["ArchiveEvidence", "check_archive_evidence", "snapshot_evidence", "stamp_pending", "tsa_roots"]


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
