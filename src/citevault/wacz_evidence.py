"""Evidence in a WACZ export: the records each snapshot's manifest lists that the capture rows do
not bring (its snapshot metadata, provenance, requests), the manifest and the timestamp tokens,
copied byte for byte; and the package's signature (anonymous with the local key, or domain mode
through py-wacz's `--signing-url`)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select

from citevault.storage.errors import StorageError
from citevault.storage.manifest import parse_manifest
from citevault.storage.models import Capture, EvidenceRecord
from citevault.storage.warcreader import read_payload, read_record_bytes

from .archive import Archive
from .signing import load_signing_key, sign_anonymous

__all__ = ["copy_evidence", "signing_args", "sign_package"]


def copy_evidence(
    fh: BinaryIO, archive: Archive, snapshot_ids: Iterable[int], captures: list[Capture]
) -> int:
    """Append each snapshot's evidence records not copied yet; returns how many were written."""
    done: set[tuple[str, int]] = set()
    for cap in captures:
        if cap.warc and cap.offset is not None and cap.record_length:
            done.add((cap.warc, cap.offset))
            done.add((cap.warc, cap.offset + cap.record_length))  # its request, when copied
    ids = sorted(set(snapshot_ids))
    with archive.index.session() as s:
        rows = list(s.scalars(
            select(EvidenceRecord)
            .where(EvidenceRecord.snapshot_id.in_(ids), EvidenceRecord.state == "written")
            .order_by(EvidenceRecord.snapshot_id, EvidenceRecord.id)
        ))
        s.expunge_all()
    written = 0

    def copy(warc: str, offset: int, length: int) -> None:
        nonlocal written
        if (warc, offset) in done:
            return
        done.add((warc, offset))
        fh.write(read_record_bytes(archive.warc_dir, warc, offset, length))
        written += 1

    for row in rows:
        if row.kind != "manifest" or row.warc is None or row.offset is None or not row.record_length:
            continue
        doc = parse_manifest(read_payload(archive.warc_dir, row.warc, row.offset).payload) or {}
        for entry in doc.get("records", []):
            copy(str(entry["warc"]), int(entry["offset"]), int(entry["length"]))
        copy(row.warc, row.offset, row.record_length)
        for tok in rows:
            if tok.kind == "timestamp" and tok.snapshot_key == row.snapshot_key and tok.warc \
                    and tok.offset is not None and tok.record_length:
                copy(tok.warc, tok.offset, tok.record_length)
    return written


def signing_args(archive: Archive) -> list[str]:
    """py-wacz arguments for domain-mode signing, when a signing URL is configured."""
    st = archive.settings
    if not st.signing_url:
        return []
    args = ["--signing-url", st.signing_url]
    if st.signing_token:
        args += ["--signing-token", st.signing_token]
    return args


def sign_package(path: Path, archive: Archive) -> None:
    """Sign a WACZ py-wacz made, in anonymous mode, unless it was signed in domain mode: its
    datapackage-digest.json gets a `signedData` block. The zip is rewritten entry by entry
    (the WARC files are streamed, not read into memory)."""
    with zipfile.ZipFile(path) as z:
        digest_doc = json.loads(z.read("datapackage-digest.json"))
        package = z.read("datapackage.json")
    if archive.settings.signing_url:
        if not digest_doc.get("signedData"):
            raise StorageError(f"the signing server {archive.settings.signing_url} did not sign the package")
        return
    digest = "sha256:" + hashlib.sha256(package).hexdigest()
    if digest_doc.get("hash") != digest:
        raise StorageError("py-wacz wrote a datapackage-digest.json that does not match its datapackage.json")
    created = str(json.loads(package).get("created"))
    key = load_signing_key(archive.settings.effective_signing_key_file)
    digest_doc["signedData"] = sign_anonymous(digest, created, key)
    replace_member(path, "datapackage-digest.json", json.dumps(digest_doc, indent=2).encode())


def replace_member(path: Path, name: str, data: bytes) -> None:
    """Rewrite the zip at `path` with member `name` replaced by `data` (other members streamed
    over unchanged, with their own compression)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".sign", dir=path.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(path) as zin, zipfile.ZipFile(tmp, "w") as zout:
            for info in zin.infolist():
                if info.filename == name:
                    zout.writestr(info, data)
                    continue
                with zin.open(info) as src, zout.open(info, "w", force_zip64=info.file_size > 2**31) as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
