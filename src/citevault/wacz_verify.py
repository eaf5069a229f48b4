"""Offline verification of a WACZ: every file against datapackage.json, datapackage.json against
datapackage-digest.json and its signature (WACZ signing spec), each snapshot manifest's timestamp
tokens against the TSA certificates given, and each WARC record against its manifest entry.
The report says what was proven, or exactly what failed."""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cryptography import x509
from warcio.archiveiterator import ArchiveIterator

from citevault.storage.manifest import EVIDENCE_HEADER, mismatch, parse_manifest, record_facts

from .signing import check_signed_data

__all__ = ["WaczReport", "verify_wacz"]

_TSA_HEADER = "WARC-Citevault-TSA"


@dataclass
class WaczReport:
    """Lines of what was proven, of what failed, and of what could not be checked."""

    proven: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "proven": self.proven, "failures": self.failures, "notes": self.notes}


def _sha256(stream: IO[bytes]) -> tuple[str, int]:
    h, n = hashlib.sha256(), 0
    while chunk := stream.read(1 << 20):
        h.update(chunk)
        n += len(chunk)
    return "sha256:" + h.hexdigest(), n


@dataclass
class _Evidence:
    """What the package's WARC files hold: every record's facts, the manifests, the tokens."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    manifests: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # record id -> (key, body)
    tokens: list[tuple[str | None, str | None, bytes]] = field(default_factory=list)  # refers-to, TSA


def _read_warcs(z: zipfile.ZipFile, report: WaczReport) -> _Evidence:
    ev = _Evidence()
    for name in sorted(n for n in z.namelist() if n.startswith("archive/") and ".warc" in n):
        count = 0
        try:
            with z.open(name) as fh:
                for rec in ArchiveIterator(fh, no_record_parse=True):
                    head = rec.rec_headers
                    kind = head.get_header(EVIDENCE_HEADER)
                    if kind in ("manifest", "timestamp"):
                        body = rec.raw_stream.read()
                        if kind == "manifest":
                            ev.manifests[str(head.get_header("WARC-Record-ID"))] = (
                                str(head.get_header("WARC-Citevault-Snapshot")), body)
                        else:
                            ev.tokens.append((head.get_header("WARC-Refers-To"),
                                              head.get_header(_TSA_HEADER), body))
                        count += 1
                        continue
                    facts = record_facts(rec)
                    ev.records[str(facts["record_id"])] = facts
                    count += 1
        except Exception as exc:  # gzip, warcio and zip errors alike: the file is damaged
            report.failures.append(f"{name}: damaged after {count} records ({type(exc).__name__}: {exc})")
    return ev


def _check_files(z: zipfile.ZipFile, report: WaczReport) -> bytes | None:
    """Every resource of datapackage.json against its hash and size; returns datapackage.json."""
    try:
        package_bytes = z.read("datapackage.json")
        package = json.loads(package_bytes)
    except (KeyError, ValueError) as exc:
        report.failures.append(f"no readable datapackage.json ({exc})")
        return None
    names = set(z.namelist())
    good = 0
    for res in package.get("resources", []):
        path = str(res.get("path", ""))
        if path not in names:
            report.failures.append(f"{path}: listed in datapackage.json but missing from the package")
            continue
        with z.open(path) as fh:
            digest, size = _sha256(fh)
        if digest != res.get("hash"):
            report.failures.append(
                f"{path}: its SHA-256 is {digest}, datapackage.json says {res.get('hash')}")
        elif res.get("bytes") is not None and size != res.get("bytes"):
            report.failures.append(f"{path}: {size} bytes, datapackage.json says {res.get('bytes')}")
        else:
            good += 1
    report.proven.append(f"{good} of {len(package.get('resources', []))} files match datapackage.json")
    return package_bytes


def _check_signature(z: zipfile.ZipFile, package_bytes: bytes, report: WaczReport) -> None:
    digest = "sha256:" + hashlib.sha256(package_bytes).hexdigest()
    try:
        doc = json.loads(z.read("datapackage-digest.json"))
    except (KeyError, ValueError):
        report.failures.append("the package is not signed (no readable datapackage-digest.json)")
        return
    if doc.get("hash") != digest:
        report.failures.append(
            f"datapackage.json hashes to {digest}, datapackage-digest.json says {doc.get('hash')}")
        return
    signed = doc.get("signedData")
    if not isinstance(signed, dict):
        report.failures.append("the package is not signed (datapackage-digest.json has no signedData)")
        return
    try:
        who = check_signed_data(signed, digest)
    except ValueError as exc:
        report.failures.append(f"signature: {exc}")
        return
    report.proven.append(f"signed by {who} at {signed.get('created')} ({signed.get('software', '?')})")


def _check_evidence(ev: _Evidence, roots: list[x509.Certificate], report: WaczReport) -> None:
    from citevault.crawler.timestamps import TimestampError, read_token, verify_token

    covered: set[str] = set()
    by_manifest: dict[str, list[tuple[str | None, bytes]]] = {}
    for refers, tsa, body in ev.tokens:
        if refers not in ev.manifests:
            report.failures.append(
                f"a timestamp token (from {tsa}) refers to {refers}, no manifest of this package")
            continue
        by_manifest.setdefault(str(refers), []).append((tsa, body))
    for mid, (key, body) in ev.manifests.items():
        digest = hashlib.sha256(body).hexdigest()
        doc = parse_manifest(body)
        if doc is None:
            report.failures.append(f"manifest {mid} of snapshot {key}: not a readable manifest")
            continue
        for tsa, token in by_manifest.get(mid, []):
            try:
                if roots:
                    t = verify_token(token, digest, roots)
                    report.proven.append(
                        f"manifest of snapshot {key} (sha256 {digest[:16]}...) timestamped by {t.tsa_name} "
                        f"at {t.gen_time.isoformat()}")
                else:
                    t = read_token(token)
                    if t.digest_hex != digest:
                        raise TimestampError(f"the token stamps {t.digest_hex}, not {digest}")
                    report.notes.append(
                        f"manifest of snapshot {key}: a token of {t.tsa_name} at {t.gen_time.isoformat()} "
                        "stamps its digest; its signature was not checked (give --tsa-ca FILE)")
            except TimestampError as exc:
                report.failures.append(f"timestamp of the manifest of snapshot {key} (from {tsa}): {exc}")
        if not by_manifest.get(mid):
            report.notes.append(f"manifest of snapshot {key} has no timestamp token")
        intact = 0
        listed = doc.get("records", [])
        for entry in listed:
            rid = str(entry.get("record_id"))
            covered.add(rid)
            facts = ev.records.get(rid)
            if facts is None:
                report.failures.append(f"record {rid} ({entry.get('target_uri')}) of snapshot {key}: "
                                       "listed in its manifest, missing from the package")
                continue
            why = mismatch(facts, entry)
            if why:
                report.failures.append(f"record {rid} ({entry.get('target_uri')}) of snapshot {key}: {why}")
            else:
                intact += 1
        report.proven.append(f"snapshot {key}: {intact} of {len(listed)} records intact against its manifest")
    outside = [r for r in ev.records if r not in covered]
    if outside:
        report.notes.append(f"{len(outside)} records are covered by no manifest (warcinfo, or captures "
                            "made before manifests existed)")


def verify_wacz(path: Path, roots: list[x509.Certificate]) -> WaczReport:
    """Check a WACZ offline; `roots` are the TSA trust anchors for timestamp tokens."""
    report = WaczReport()
    try:
        z = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        report.failures.append(f"{path} is not a readable WACZ (zip) file: {exc}")
        return report
    with z:
        package_bytes = _check_files(z, report)
        if package_bytes is not None:
            _check_signature(z, package_bytes, report)
        _check_evidence(_read_warcs(z, report), roots, report)
    return report
