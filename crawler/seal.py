"""Sealing a snapshot when its crawl ends: its provenance record, then its manifest (every record
it wrote, with digests; its own SHA-256 kept in the index), then an RFC 3161 timestamp of the
manifest from each configured TSA. A TSA that cannot be reached leaves a pending row and never
fails the capture; `stamp_pending` (the service's scheduler, `citevault stamp`) retries it.

Evidence records are WARC metadata records with `urn:citevault:<kind>:<snapshot key>` target URIs
(never a page's URL, so replay tools do not show them), named by a WARC-Citevault-Evidence header."""

from __future__ import annotations

import functools
import platform
import socket
import ssl
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import select, update

from citevault.storage.db import Index
from citevault.storage.manifest import (
    EVIDENCE_HEADER,
    FETCHED_TYPES,
    ManifestBook,
    write_json,
    write_manifest_body,
)
from citevault.storage.models import EvidenceRecord
from citevault.storage.warcreader import read_payload
from citevault.storage.warcstore import SNAPSHOT_HEADER, WarcStore, WrittenRecord

if TYPE_CHECKING:
    from citevault.config import Settings

    from .progress import Seed
    from .provenance import ProvenanceCollector

__all__ = ["PROVENANCE_TYPE", "SealRequest", "TSA_HEADER", "evidence_urn", "seal_crawl", "seal_snapshot",
           "stamp_pending", "warm_up"]

PROVENANCE_TYPE = "citevault-provenance"
PROVENANCE_VERSION = 2
TSA_HEADER = "WARC-Citevault-TSA"


def evidence_urn(kind: str, snapshot_key: str) -> str:
    return f"urn:citevault:{kind}:{snapshot_key}"


def software_versions() -> dict[str, str]:
    """citevault and the libraries that shape what is captured and how it is written."""
    return dict(_versions())


@functools.cache
def _versions() -> tuple[tuple[str, str], ...]:
    # Looked up once a process: a process runs the code it loaded, whatever is installed after
    # it started. Seven importlib.metadata look-ups were 6-12 ms of CPU in every job's crawl.
    out = [("python", platform.python_version()), ("openssl", ssl.OPENSSL_VERSION)]
    for dist in ("citevault", "scrapy", "twisted", "warcio", "pyopenssl", "cryptography", "rfc3161-client"):
        try:
            out.append((dist, metadata.version(dist)))
        except metadata.PackageNotFoundError:
            continue
    return tuple(out)


def host_info() -> dict[str, str]:
    return {"hostname": socket.gethostname(), "platform": platform.platform()}


def warm_up() -> None:
    """The provenance record's software versions and platform (platform caches its own), found
    once in a fork server that serves many jobs (`serve`, `worker`), for every child after it."""
    software_versions()
    host_info()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _iso(when: datetime) -> str:
    return when.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


@dataclass
class SealRequest:
    """One snapshot to seal, with the settings that shaped its capture."""

    snapshot_id: int
    snapshot_key: str
    capture: dict[str, Any]  # mode, user agent, seed, depth, scope, limits, ...
    started: datetime
    tsa_urls: list[str] = field(default_factory=list)
    tsa_timeout: float = 10.0


def _row(s: Any, **values: Any) -> EvidenceRecord:
    row = EvidenceRecord(created_at=_now(), attempts=0, **values)
    s.add(row)
    s.flush()
    return row


def _located(written: WrittenRecord) -> dict[str, Any]:
    return {"warc": written.warc, "offset": written.offset, "record_length": written.length,
            "record_id": written.record_id}




def _write_provenance(out: IO[bytes], book: ManifestBook, collector: ProvenanceCollector,
                      req: SealRequest) -> None:
    """The provenance record's block: `json.dumps(..., sort_keys=True)` of the document (the origins
    of the snapshot's fetched records, read from the book, are one entry per host).

    Version 2 no longer lists each fetched record (URI, record id, type, fetch time): the manifest,
    written next and timestamped, lists every record of the snapshot with the same four facts (its
    `target_uri`, `record_id`, `type` and `date`, the WARC-Date: the fetch time) and their digests,
    and it lists and hashes this record too. The copy was about 36 B per URL gzipped, a third of
    an unchanged recapture's metadata bytes (issue 15, target 3). Readers of version 1 still find
    `records` in the old records; the provenance page takes the list from the manifest."""
    key = req.snapshot_key
    doc = {
        "type": PROVENANCE_TYPE,
        "version": PROVENANCE_VERSION,
        "snapshot_key": key,
        "software": {"name": "citevault", "versions": software_versions()},
        "host": host_info(),
        "capture": req.capture,
        "started": _iso(req.started),
        "sealed": _iso(_now()),
        "tls_trust_store": collector.trust_store(),
        "origins": collector.origins_for(
            str(e.target_uri) for e in book.entries(key) if e.type in FETCHED_TYPES
        ),
    }
    write_json(out, doc, {})


def seal_snapshot(
    index: Index, store: WarcStore, book: ManifestBook, collector: ProvenanceCollector, req: SealRequest
) -> None:
    """Write the snapshot's provenance and manifest records, index them, and stamp the manifest."""
    key = req.snapshot_key
    head = {SNAPSHOT_HEADER: key}
    # Entries are read from the book's file as they are used, and both records are written to a
    # temporary file, then compressed into the WARC from it: at 100,000 URLs, 200,000 entries as
    # objects, the manifest's 80 MB and the provenance record's 100,000 entries held whole were
    # the crawl's peak (benchmarks/history/2026-12-07-and-before.md, p-perf3 item 3, p-mem4 item 1).
    with tempfile.TemporaryFile() as prov_file:
        _write_provenance(prov_file, book, collector, req)
        size = prov_file.tell()
        prov_file.seek(0)
        prov = store.write_metadata_stream(evidence_urn("provenance", key), prov_file, size,
                                           "application/json", {**head, EVIDENCE_HEADER: "provenance"})
    # The provenance record is one of the snapshot's records: the manifest lists it too.
    with tempfile.TemporaryFile() as body_file:
        size, digest = write_manifest_body(body_file, key, _iso(_now()), book.entries(key))
        book.forget(key)
        body_file.seek(0)
        man = store.write_metadata_stream(evidence_urn("manifest", key), body_file, size, "application/json",
                                          {**head, EVIDENCE_HEADER: "manifest"})
        body_file.seek(0)
        # Read back only for the TSAs (none by default), which are sent the manifest itself.
        body = body_file.read() if req.tsa_urls else b""
    store.sync()  # rows point only at durable records
    with index.session() as s:
        _row(s, snapshot_id=req.snapshot_id, snapshot_key=key, kind="provenance", state="written",
             **_located(prov))
        _row(s, snapshot_id=req.snapshot_id, snapshot_key=key, kind="manifest", state="written",
             sha256=digest, **_located(man))
        pending = [
            _row(s, snapshot_id=req.snapshot_id, snapshot_key=key, kind="timestamp", state="pending",
                 sha256=digest, tsa_url=url).id
            for url in req.tsa_urls
        ]
    for row_id in pending:
        _stamp(index, store, row_id, body, man.record_id, req.tsa_timeout)


def seal_crawl(
    settings: Settings, seeds: list[Seed], index: Index, store: WarcStore,
    snapshot_key: Callable[[int], str | None], book: ManifestBook, collector: ProvenanceCollector,
    started: datetime,
) -> None:
    """Seal each snapshot a crawl started (`snapshot_key` is None for the others). A failure here
    is reported, never allowed to lose the capture itself."""
    c = settings
    limits = {"timeout_s": c.timeout, "max_response_bytes": c.max_response_size, "retries": c.retries,
              "concurrency": c.concurrency, "concurrency_per_host": c.concurrency_per_host}
    tsa_urls = [u.strip() for u in c.tsa_urls.split(",") if u.strip()]
    for seed in seeds:
        key = snapshot_key(seed.snapshot_id)
        if key is None:
            continue
        capture = {
            "mode": "http", "engine": "Scrapy", "user_agent": c.user_agent, "seed": seed.url,
            "depth": seed.depth, "scope": seed.scope, "obey_robots": c.obey_robots, "limits": limits,
        }
        req = SealRequest(seed.snapshot_id, key, capture, started, tsa_urls, c.tsa_timeout)
        try:
            seal_snapshot(index, store, book, collector, req)
        except Exception as exc:
            print(f"citevault: sealing snapshot {seed.snapshot_id} failed: {exc}", file=sys.stderr)


def _stamp(
    index: Index, store: WarcStore, row_id: int, body: bytes, manifest_id: str, timeout: float
) -> bool:
    """Ask one pending row's TSA to stamp the manifest; True once the token is stored."""
    # Imported here: httpx and the RFC 3161 client are start-up CPU of every crawl's fork server,
    # and a snapshot is stamped only when a TSA is configured (none by default).
    from .timestamps import TOKEN_CONTENT_TYPE, TimestampError, request_token

    with index.session() as s:
        row = s.get(EvidenceRecord, row_id)
        if row is None or row.state != "pending" or not row.tsa_url:
            return False
        url, key = row.tsa_url, row.snapshot_key
    try:
        token = request_token(url, body, timeout=timeout)
    except TimestampError as exc:
        with index.session() as s:
            s.execute(update(EvidenceRecord).where(EvidenceRecord.id == row_id).values(
                attempts=EvidenceRecord.attempts + 1, error=str(exc)[:1000]))
        return False
    written = store.write_metadata_bytes(
        evidence_urn("timestamp", key), token.reply, TOKEN_CONTENT_TYPE,
        {SNAPSHOT_HEADER: key, EVIDENCE_HEADER: "timestamp", "WARC-Refers-To": manifest_id,
         TSA_HEADER: url},
    )
    store.sync()
    with index.session() as s:
        s.execute(update(EvidenceRecord).where(EvidenceRecord.id == row_id).values(
            state="written", attempts=EvidenceRecord.attempts + 1, error=None,
            gen_time=token.gen_time.astimezone(UTC).replace(tzinfo=None), **_located(written)))
    return True


def stamp_pending(index: Index, store: WarcStore, *, timeout: float = 10.0) -> tuple[int, int]:
    """Retry every pending timestamp; returns (stamped, still pending)."""
    with index.session() as s:
        rows = s.execute(
            select(EvidenceRecord.id, EvidenceRecord.snapshot_key)
            .where(EvidenceRecord.kind == "timestamp", EvidenceRecord.state == "pending")
            .order_by(EvidenceRecord.id)
        ).all()
        manifests = {
            m.snapshot_key: m for m in s.scalars(
                select(EvidenceRecord).where(
                    EvidenceRecord.kind == "manifest",
                    EvidenceRecord.snapshot_key.in_({k for _, k in rows}),
                )
            )
        }
    stamped = 0
    bodies: dict[str, bytes] = {}
    for row_id, key in rows:
        man = manifests.get(key)
        if man is None or man.warc is None or man.offset is None or man.record_id is None:
            continue
        if key not in bodies:
            try:
                bodies[key] = read_payload(Path(store.directory), man.warc, man.offset).payload
            except Exception as exc:  # a missing or damaged manifest: `verify` reports it
                print(f"citevault: cannot read the manifest of snapshot {key}: {exc}", file=sys.stderr)
                continue
        stamped += _stamp(index, store, row_id, bodies[key], man.record_id, timeout)
    return stamped, len(rows) - stamped
