"""Recovery: rebuild the index (sources, snapshots, captures, their links) from the WARC files
alone (`citevault reindex`); the WARC files are the source of truth."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from warcio.archiveiterator import ArchiveIterator
from warcio.limitreader import LimitReader
from warcio.recordloader import ArcWarcRecord

from .db import Index
from .index import surt_key
from .models import Capture, Snapshot, Source
from .records import capture_row
from .recovery import complete_length, recover_open_files
from .snapshots import settle_rebuilt
from .warcrecords import payload_digests
from .warcstore import OPEN_SUFFIX, PARENT_HEADER, SNAPSHOT_HEADER

__all__ = ["ReindexResult", "reindex"]


@dataclass
class ReindexResult:
    """What one `reindex` run read and added."""

    files: int = 0
    records: int = 0  # response/revisit/resource records read
    added: int = 0  # capture rows added
    sources: int = 0  # source rows added
    snapshots: int = 0  # snapshot rows added
    recovered: list[str] = field(default_factory=list)  # .open files a crashed writer left, closed


def _warc_files(warc_dir: Path) -> list[Path]:
    return sorted(warc_dir.glob("*.warc.gz")) + sorted(warc_dir.glob("*.warc"))


def _parse_dt(value: Any) -> datetime | None:
    """A datetime as the recorder writes it (naive UTC, ISO 8601 with Z)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.removesuffix("Z"))
    except ValueError:
        return None


class _Rebuild:
    """The state of one `reindex` run: snapshot keys -> snapshot rows, record ids -> captures."""

    def __init__(self, index: Index, result: ReindexResult, files: list[str] | None = None) -> None:
        self.index = index
        self.result = result
        rows = select(Capture.id, Capture.warc, Capture.offset)
        if files is not None:
            rows = rows.where(Capture.warc.in_(files))
        with index.session() as s:
            self.known: dict[tuple[str | None, int | None], int] = {
                (w, o): cid for cid, w, o in s.execute(rows)}
            # URL -> source id, all of them: a table of what users cite, small beside captures.
            self.sources: dict[str, int] = {u: sid for sid, u in s.execute(select(Source.id, Source.url))}
        self.snapshots: dict[str, int] = {}  # snapshot key -> snapshot id
        self.created: set[int] = set()  # snapshots added by this run: settled at the end
        self.created_sources: set[int] = set()  # sources added by this run
        self.record_ids: dict[str, int] = {}  # WARC-Record-ID -> capture id
        self.parents: list[tuple[int, str]] = []  # (new capture id, parent's WARC-Record-ID)
        self.unplaced: list[tuple[int, str]] = []  # (new capture id, a key not seen yet)
        self.revisits: list[tuple[int, str | None]] = []  # (new capture id, Refers-To-Target)

    # -- metadata records ------------------------------------------------------------------------
    def metadata(self, rec: ArcWarcRecord) -> None:
        """A snapshot's metadata record: find or add its source and snapshot."""
        ctype = rec.rec_headers.get_header("Content-Type") or ""
        if not ctype.startswith("application/json"):
            return
        try:
            info = json.loads(rec.raw_stream.read())
        except ValueError:
            return
        if not isinstance(info, dict) or info.get("type") != "citevault-snapshot":
            return
        key, src, snap = info.get("snapshot_key"), info.get("source"), info.get("snapshot")
        if not isinstance(key, str) or not isinstance(src, dict) or not isinstance(snap, dict):
            return
        created_at, queued_at = _parse_dt(src.get("created_at")), _parse_dt(snap.get("queued_at"))
        if not src.get("url") or created_at is None or queued_at is None:
            return
        with self.index.session() as s:
            source_id = self._source(s, src, created_at)
            # Snapshot rows are told apart by their source and queue time: a retried snapshot
            # writes one metadata record per attempt, under a new key each time.
            sid = s.scalar(
                select(Snapshot.id).where(Snapshot.source_id == source_id, Snapshot.queued_at == queued_at)
                .order_by(Snapshot.id).limit(1)
            )
            if sid is None:
                row = Snapshot(
                    source_id=source_id, trigger=str(snap.get("trigger") or "cli")[:16], state="running",
                    queued_at=queued_at, started_at=_parse_dt(snap.get("started_at")), attempts=1,
                )
                s.add(row)
                s.flush()
                sid = row.id
                self.created.add(sid)
                self.result.snapshots += 1
            elif sid in self.created and key not in self.snapshots:
                s.execute(update(Snapshot).where(Snapshot.id == sid).values(attempts=Snapshot.attempts + 1))
        self.snapshots[key] = sid

    def _source(self, s: Session, src: dict[str, Any], created_at: datetime) -> int:
        """The one source of the record's URL (the index holds one per URL: metadata records an
        older version wrote for duplicate sources of a URL all land on it)."""
        url = str(src["url"])
        found = self.sources.get(url)
        depth, scope = src.get("depth"), src.get("scope")
        fields: dict[str, Any] = dict(depth=depth if isinstance(depth, int) else 1,
                                      scope=scope if scope in ("cited", "all") else "cited")
        # As when a URL is added again: a note or schedule given replaces the one before, none
        # leaves it as it was.
        fields.update({k: src[k] for k in ("note", "schedule") if src.get(k) is not None})
        if found is None:
            row = Source(url=url, surt=surt_key(url), created_at=created_at, **fields)
            s.add(row)
            s.flush()
            found = row.id
            self.created_sources.add(found)
            self.result.sources += 1
        elif found in self.created_sources:
            # One source has many snapshots (a URL added again): files are read oldest first, so
            # the last metadata record read says how the source was left.
            s.execute(update(Source).where(Source.id == found).values(**fields))
        self.sources[url] = found
        return found

    # -- capture records -------------------------------------------------------------------------
    def capture(self, name: str, it: ArchiveIterator, rec: ArcWarcRecord) -> Capture | None:
        """The row of a response/revisit/resource record, or None when it is indexed already."""
        payload = rec.raw_stream.read() if rec.rec_type != "revisit" else b""
        offset = it.get_record_offset()  # reads to the end of the record: after the payload
        record_id = rec.rec_headers.get_header("WARC-Record-ID")
        known = self.known.get((name, offset))
        if known is not None:
            if record_id:
                self.record_ids[record_id] = known
            return None
        sha256: str | None = None
        if rec.rec_type != "revisit":  # a revisit's payload facts are its original's (_refers)
            _, sha256 = payload_digests(payload)
        return Capture(**capture_row(
            rec, warc=name, offset=offset, record_length=it.get_record_length(),
            sha256=sha256, length=len(payload),
        ))

    def add(self, rows: list[tuple[Capture, ArcWarcRecord]]) -> None:
        """Insert the rows of one file, placed in their snapshots where the key is known."""
        if not rows:
            return
        with self.index.session() as s:
            for cap, rec in rows:
                key = rec.rec_headers.get_header(SNAPSHOT_HEADER)
                if key:
                    cap.snapshot_id = self.snapshots.get(key)
            s.add_all([cap for cap, _ in rows])
            s.flush()
            for cap, rec in rows:
                head = rec.rec_headers
                if rid := head.get_header("WARC-Record-ID"):
                    self.record_ids[rid] = cap.id
                if parent := head.get_header(PARENT_HEADER):
                    self.parents.append((cap.id, parent))
                if (key := head.get_header(SNAPSHOT_HEADER)) and cap.snapshot_id is None:
                    self.unplaced.append((cap.id, key))
                if cap.record_type == "revisit":
                    self.revisits.append((cap.id, head.get_header("WARC-Refers-To-Target-URI")))
                self.known[(cap.warc, cap.offset)] = cap.id
        self.result.added += len(rows)

    # -- links between rows, and settling --------------------------------------------------------
    def finish(self) -> None:
        with self.index.session() as s:
            placed = [{"id": cid, "snapshot_id": self.snapshots[k]}
                      for cid, k in self.unplaced if k in self.snapshots]
            parents = [{"id": cid, "parent_id": self.record_ids[r]}
                       for cid, r in self.parents if r in self.record_ids]
            for batch in (placed, parents, self._refers(s)):
                if batch:
                    s.execute(update(Capture), batch)
            for sid in sorted(self.created):
                settle_rebuilt(s, sid)

    def _refers(self, s: Session) -> list[dict[str, Any]]:
        """Each new revisit -> the newest response of its target URI and digest before it, whose
        payload (sha256, length) it repeats."""
        out = []
        for cid, target_uri in self.revisits:
            rev = s.get(Capture, cid)
            if rev is None or not rev.digest:
                continue
            target = target_uri or rev.url
            orig = s.execute(
                select(Capture.id, Capture.sha256, Capture.length).where(
                    Capture.surt == surt_key(target), Capture.url == target,
                    Capture.digest == rev.digest, Capture.record_type == "response",
                    Capture.timestamp <= rev.timestamp,
                ).order_by(Capture.timestamp.desc(), Capture.id.desc()).limit(1)
            ).first()
            if orig is not None:
                out.append({"id": cid, "refers_to_id": orig.id, "sha256": orig.sha256,
                            "length": orig.length})
        return out


def reindex(index: Index, warc_dir: Path, files: list[str] | None = None) -> ReindexResult:
    """Add to the index what the WARC files hold and it lacks (captures matched by file
    and offset): each snapshot's metadata record gives back its source and snapshot rows, the
    records' extension headers their snapshot, role and parent capture; revisits are linked to
    the capture they repeat. Records written before snapshots had metadata become captures of
    no snapshot. `.open` files left by a crashed writer are recovered (closed) first; those a
    live writer still holds are indexed up to their last complete record, under their final
    name (the one index rows use). With `files` (names of closed files in `warc_dir`), only those
    are read, and nothing is recovered: how recovery indexes the records it saved."""
    result = ReindexResult()
    if files is None:
        result.recovered = [r.name for r in recover_open_files(warc_dir)]
        live = sorted(warc_dir.glob(f"*.warc.gz{OPEN_SUFFIX}"))
        paths = _warc_files(warc_dir) + live
    else:
        live, paths = [], [warc_dir / name for name in files]
    run = _Rebuild(index, result, files)
    for path in paths:
        result.files += 1
        name = path.name.removesuffix(OPEN_SUFFIX)
        rows: list[tuple[Capture, ArcWarcRecord]] = []
        try:
            with open(path, "rb") as fh:
                # A live writer may append meanwhile: read only what was complete at the start.
                end = complete_length(fh) if path.name.endswith(OPEN_SUFFIX) else None
                fh.seek(0)
                it = ArchiveIterator(LimitReader(fh, end) if end is not None else fh)
                for rec in it:
                    if rec.rec_type == "metadata":
                        run.metadata(rec)
                        continue
                    if rec.rec_type not in ("response", "revisit", "resource"):
                        continue
                    result.records += 1
                    cap = run.capture(name, it, rec)
                    if cap is not None:
                        rows.append((cap, rec))
        except FileNotFoundError:
            # Closed (renamed) by its writer while we looked: read under its final name.
            if path.name.endswith(OPEN_SUFFIX) and (warc_dir / name).exists():
                live.append(warc_dir / name)
            continue
        run.add(rows)
    run.finish()
    return result
