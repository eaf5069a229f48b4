"""WACZ export of a source: its WARC records copied byte for byte into one WARC, packaged by py-wacz
with a CDXJ index, pages.jsonl (the article and each cited page, titled as citations.source_title
does: a usable page's <title>, else the anchor text, else the URL) and datapackage.json."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from warcio.archiveiterator import ArchiveIterator
from warcio.recordloader import ArchiveLoadFailed
from warcio.timeutils import timestamp_to_iso_date
from warcio.warcwriter import WARCWriter

from citevault.storage.errors import BadInput, NotFound, StorageError
from citevault.storage.index import get_source
from citevault.storage.models import Capture, Link, Snapshot
from citevault.storage.warcreader import read_record_bytes, resolve_path

from .archive import Archive
from .citations import CaptureSet, source_title
from .wacz_evidence import copy_evidence, sign_package, signing_args

__all__ = ["WaczExport", "check_writable", "export_wacz"]


@dataclass(frozen=True)
class WaczExport:
    path: Path
    records: int  # WARC records copied (responses, revisits, resources, requests)
    pages: int  # entries of pages/pages.jsonl
    size: int  # bytes of the .wacz


def check_writable(out: Path) -> None:
    """BadInput unless `out` can be created or replaced (checked before any work is done)."""
    parent = out.parent
    if out.is_dir():
        raise BadInput(f"cannot write {out}: it is a directory")
    if not parent.is_dir():
        raise BadInput(f"cannot write {out}: no directory {parent}")
    if not os.access(parent, os.W_OK | os.X_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise BadInput(f"cannot write {out}: permission denied")


def _following_request(path: Path, cap: Capture) -> bytes | None:
    """The request record the recorder wrote right after a response (or revisit), if it is there."""
    assert cap.offset is not None and cap.record_length is not None
    start = cap.offset + cap.record_length
    with open(path, "rb") as fh:
        fh.seek(start)
        head = ArchiveIterator(fh)
        try:
            first = next(head)
        except (StopIteration, EOFError, ValueError, ArchiveLoadFailed):  # end of file, or no record
            return None
        record_id = _record_id(path, cap)
        if first.rec_type != "request" or first.rec_headers.get_header("WARC-Concurrent-To") != record_id:
            return None
        head.read_to_end()
        length = head.get_record_length()
        fh.seek(start)
        return fh.read(length)


def _record_id(path: Path, cap: Capture) -> str | None:
    assert cap.offset is not None
    with open(path, "rb") as fh:
        fh.seek(cap.offset)
        for rec in ArchiveIterator(fh):
            return str(rec.rec_headers.get_header("WARC-Record-ID"))
    return None


def _export_captures(archive: Archive, source_id: int) -> tuple[str, list[Snapshot], list[Capture]]:
    """The source URL, its snapshots, and every capture with a record, plus the originals its
    revisits refer to, oldest first."""
    with archive.index.session() as s:
        src = get_source(s, source_id)
        snaps = list(src.snapshots)
        caps = list(s.scalars(
            select(Capture).join(Snapshot, Capture.snapshot_id == Snapshot.id)
            .where(Snapshot.source_id == src.id)
        ))
        have = {c.id for c in caps}
        wanted = {c.refers_to_id for c in caps if c.refers_to_id and c.refers_to_id not in have}
        while wanted:
            extra = list(s.scalars(select(Capture).where(Capture.id.in_(wanted))))
            caps += extra
            have |= {c.id for c in extra}
            wanted = {c.refers_to_id for c in extra if c.refers_to_id and c.refers_to_id not in have}
        s.expunge_all()
        return src.url, snaps, caps


def _pages(
    archive: Archive, url: str, snaps: list[Snapshot], caps: list[Capture]
) -> tuple[list[dict[str, Any]], Capture | None]:
    """pages.jsonl entries: per snapshot, the article and each page it cites; and the main page
    (the newest archived copy of the article)."""
    pages: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    main: Capture | None = None

    def add(cap: Capture, anchor: str | None, seed: bool) -> None:
        if (cap.url, cap.timestamp) in seen:
            return
        seen.add((cap.url, cap.timestamp))
        entry: dict[str, Any] = {
            "id": f"capture-{cap.id}",
            "url": cap.url,
            "ts": timestamp_to_iso_date(cap.timestamp),
            "title": source_title(archive, cap, anchor, cap.url),
        }
        if cap.status is not None:
            entry["status"] = cap.status
        if seed:
            entry["seed"] = True
        pages.append(entry)

    for snap in snaps:
        in_snap = CaptureSet(c for c in caps if c.snapshot_id == snap.id)
        article = in_snap.final(url)
        if article is None:
            continue
        if main is None or (article.timestamp, article.id) > (main.timestamp, main.id):
            main = article
        add(article, None, True)
        with archive.index.session() as s:
            links = s.execute(
                select(Link.url, Link.text)
                .where(Link.capture_id == article.id, Link.kind == "cited").order_by(Link.id)
            ).all()
        for link_url, text in links:
            cited = in_snap.final(link_url)
            if cited is not None:
                add(cited, text, False)
    return pages, main


def _warcinfo(fh: io.BufferedWriter, name: str, source_id: int, url: str, files: list[str]) -> None:
    writer = WARCWriter(fh, gzip=True, warc_version="1.1")
    info = {
        "software": "citevault (WACZ export)",
        "format": "WARC File Format 1.1",
        "description": f"records of citevault source {source_id} ({url}), copied unchanged",
        "isPartOf": f"citevault-source-{source_id}",
        "source-warcs": " ".join(files),
    }
    writer.write_record(writer.create_warcinfo_record(name, info))


# `python -m wacz` drops main()'s return code (1 when it refuses the pages file); keep it.
_WACZ_MAIN = "import sys; from wacz.main import main; sys.exit(main(sys.argv[1:]))"


def _run_wacz(args: list[str]) -> None:
    """py-wacz's own command line, in a child process: it print()s progress and its ValueErrors
    end the run, and swapping sys.stdout in a threaded server is not safe. Costs ~0.4 s."""
    try:
        done = subprocess.run([sys.executable, "-c", _WACZ_MAIN, *args], capture_output=True, text=True)
    except OSError as exc:
        raise StorageError(f"cannot run py-wacz: {exc}") from exc
    if done.returncode != 0:
        lines = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()
        raise StorageError(f"py-wacz could not build the package: {lines[-1]}")


def export_wacz(archive: Archive, source_id: int, out: Path) -> WaczExport:
    """Write a WACZ of every snapshot of a source to `out` (replaced atomically)."""
    out = Path(out)
    check_writable(out)
    url, snaps, caps = _export_captures(archive, source_id)
    records = sorted((c for c in caps if c.warc and c.offset is not None and c.record_length),
                     key=lambda c: (c.timestamp, c.id))
    if not records:
        raise NotFound(f"source {source_id} has no archived records to export")
    pages, main = _pages(archive, url, snaps, caps)

    with tempfile.TemporaryDirectory(prefix="citevault-wacz-") as tmp:
        warc_name = f"citevault-source-{source_id}.warc.gz"
        warc_path = Path(tmp) / warc_name
        copied = 0
        with open(warc_path, "wb") as fh:
            _warcinfo(fh, warc_name, source_id, url, sorted({c.warc for c in records if c.warc}))
            for cap in records:
                assert cap.warc is not None and cap.offset is not None and cap.record_length
                fh.write(read_record_bytes(archive.warc_dir, cap.warc, cap.offset, cap.record_length))
                copied += 1
                request = _following_request(resolve_path(archive.warc_dir, cap.warc), cap)
                if request is not None:
                    fh.write(request)
                    copied += 1
            copied += copy_evidence(fh, archive, [snap.id for snap in snaps], records)
        pages_path = Path(tmp) / "pages.jsonl"
        header = {"format": "json-pages-1.0", "id": "pages", "title": f"citevault source {source_id}"}
        pages_path.write_text(
            "".join(json.dumps(p) + "\n" for p in [header, *pages]), encoding="utf-8"
        )
        fd, partial = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
        os.close(fd)
        args = ["create", str(warc_path), "-o", partial, "-p", str(pages_path), "--copy-pages",
                "--title", f"citevault source {source_id}: {url}",
                "--desc", "An article and the sources it cites, archived by citevault."]
        if main is not None:
            args += ["--url", main.url, "--ts", main.timestamp]
        args += signing_args(archive)
        try:
            _run_wacz(args)
            sign_package(Path(partial), archive)
            os.replace(partial, out)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(partial)
            raise
    return WaczExport(path=out, records=copied, pages=len(pages), size=out.stat().st_size)
