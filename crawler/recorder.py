"""The capture flow, top to bottom: fetched exchange -> raw bytes -> digests -> dedup decision ->
WARC record(s) -> index row. Framework-free: the Scrapy adapters call into it.

A row is committed only after its WARC record is completely written, flushed (and fsynced):
the index never points at a record that is not there.
"""

from __future__ import annotations

import functools
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import insert, update
from sqlalchemy.orm import Session
from warcio.statusandheaders import StatusAndHeaders
from warcio.timeutils import timestamp_to_iso_date

from citevault.storage.db import Index
from citevault.storage.driverstatement import DriverStatement
from citevault.storage.index import now_timestamp, revisit_original, surt_key
from citevault.storage.models import HTML_TYPES, Capture, Link, Snapshot, Source, utcnow
from citevault.storage.records import capture_row
from citevault.storage.warcrecords import payload_digests
from citevault.storage.warcstore import (
    PARENT_HEADER,
    ROLE_HEADER,
    SNAPSHOT_HEADER,
    VIA_HEADER,
    WarcStore,
)

__all__ = ["CaptureRecorder", "Exchange", "Recorded"]

# Headers that describe the transfer, not the payload: the body we archive is de-chunked.
_HOP_HEADERS = {"transfer-encoding"}
_SECRET_REQUEST_HEADERS = {"proxy-authorization", "proxy-connection"}
_LINK_BATCH = 2000  # link rows per INSERT (and per transaction on a big page)


@dataclass
class Exchange:
    """One HTTP request and the response that came back, body as sent (Content-Encoding intact)."""

    url: str
    method: str
    request_headers: list[tuple[str, str]]
    status: int
    response_headers: list[tuple[str, str]]
    body: bytes
    protocol: str = "HTTP/1.1"
    ip_address: str | None = None
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def mime(self) -> str | None:
        for k, v in self.response_headers:
            if k.lower() == "content-type":
                return v.split(";")[0].strip().lower() or None
        return None

    def request_head(self) -> StatusAndHeaders:
        parts = urlsplit(self.url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = [("Host", parts.netloc)] + [
            (k, v) for k, v in self.request_headers
            if k.lower() not in _SECRET_REQUEST_HEADERS and k.lower() != "host"
        ]
        return StatusAndHeaders(f"{self.method} {target} {self.protocol}", headers, protocol="")

    def response_head(self) -> StatusAndHeaders:
        try:
            reason = HTTPStatus(self.status).phrase
        except ValueError:
            reason = ""
        headers = [(k, v) for k, v in self.response_headers if k.lower() not in _HOP_HEADERS]
        kept = [(k, v) for k, v in headers if k.lower() != "content-length"]
        kept.append(("Content-Length", str(len(self.body))))
        return StatusAndHeaders(f"{self.status} {reason}".strip(), kept, protocol=self.protocol)


@dataclass(frozen=True)
class Recorded:
    """What the index holds for one capture (the `add --json` capture object, plus ids)."""

    id: int
    url: str
    status: int | None
    role: str
    mime: str | None
    timestamp: str
    warc: str | None
    offset: int | None
    length: int | None
    sha256: str | None
    error: str | None
    record_type: str | None = None
    via: str = "http"


class CaptureRecorder:
    """Writes captures of one crawl into the WARC store and the index. Thread-safe."""

    def __init__(
        self, index: Index, store: WarcStore, *, batch_size: int = 1, batch_age: float = 0.25
    ) -> None:
        """`batch_size` rows share one transaction (and one fsync of the WARC file before its
        commit); a crawl batches, direct callers get each row committed as it is recorded."""
        self.index = index
        self.store = store
        self.batch_size = batch_size
        self.batch_age = batch_age
        self._lock = threading.RLock()
        self._session: Session | None = None
        self._counts: dict[int, list[int]] = {}
        self._pending = 0
        self._first_pending: float | None = None
        # Per crawl: each snapshot's key (its metadata record's), and the WARC-Record-ID of each
        # capture's record, so that records name their snapshot and parent for `reindex`.
        self._snapshot_keys: dict[int, str] = {}
        self._record_ids: dict[int, str] = {}

    def snapshot_key(self, snapshot_id: int) -> str | None:
        """The key of a snapshot started by this recorder (its records' WARC-Citevault-Snapshot)."""
        return self._snapshot_keys.get(snapshot_id)

    # -- transactions ----------------------------------------------------------------------------
    def _tx(self) -> Session:
        """The open transaction rows are added to; committed by `commit()`."""
        if self._session is None:
            self._session = Session(self.index.engine, expire_on_commit=False)
        return self._session

    def _added(self, snapshot_id: int, done: int = 0, failed: int = 0, nbytes: int = 0) -> None:
        counts = self._counts.setdefault(snapshot_id, [0, 0, 0])
        counts[0] += done
        counts[1] += failed
        counts[2] += nbytes
        self._pending += 1
        if self._first_pending is None:
            self._first_pending = time.monotonic()
        if self._pending >= self.batch_size:
            self._commit()

    def commit_if_due(self) -> None:
        """Commit when the oldest pending row has waited `batch_age` seconds (call it on a timer)."""
        with self._lock:
            if self._first_pending is not None and time.monotonic() - self._first_pending >= self.batch_age:
                self._commit()

    def commit(self) -> None:
        with self._lock:
            self._commit()

    def _commit(self) -> None:
        s = self._session
        if s is None:
            return
        try:
            for sid, (done, failed, nbytes) in self._counts.items():
                s.execute(
                    update(Snapshot).where(Snapshot.id == sid).values(
                        urls_done=Snapshot.urls_done + done,
                        urls_failed=Snapshot.urls_failed + failed,
                        bytes_written=Snapshot.bytes_written + nbytes,
                    )
                )
            # The records these rows point at are durable before the rows become visible.
            self.store.sync()
            s.commit()
        except BaseException:
            s.rollback()  # the records stay in the WARC files; `reindex` can recover them
            raise
        finally:
            s.close()
            self._session = None
            self._counts.clear()
            self._pending = 0
            self._first_pending = None

    @staticmethod
    def _insert(s: Session, row: dict[str, Any]) -> Recorded:
        # A Core INSERT ... RETURNING, built once and run on the driver's cursor: the ORM's unit
        # of work, building the statement per row (benchmarks/record_cpu.py), then SQLAlchemy's
        # execution (storage/driverstatement.py) cost more than the rest of the row's bookkeeping.
        returned = _insert_capture().first(s.connection(), row)
        assert returned is not None  # RETURNING id: one row
        cid = int(returned[0])
        return Recorded(
            id=cid, url=row["url"], status=row["status"], role=row["role"], mime=row["mime"],
            timestamp=row["timestamp"], warc=row["warc"], offset=row["offset"],
            length=row["record_length"], sha256=row["sha256"], error=row["error"],
            record_type=row["record_type"], via=row.get("via") or "http",
        )

    # -- the capture flow ------------------------------------------------------------------------
    def record(
        self,
        snapshot_id: int,
        exchange: Exchange,
        *,
        role: str,
        parent_id: int | None = None,
        redirect_to: str | None = None,
        via: str = "http",
    ) -> Recorded:
        """Archive one exchange; a payload identical to an earlier capture of the URL becomes a
        revisit record. `via` says whether the HTTP crawler or the browser asked for it."""
        digest, sha256 = payload_digests(exchange.body)
        with self._lock:
            s = self._tx()
            extra = self._headers(snapshot_id, role, parent_id, via)
            surt = surt_key(exchange.url)
            original = revisit_original(s, exchange.url, digest, surt) if exchange.body else None
            if original is not None:
                written = self.store.write_revisit(
                    exchange.url,
                    response_head=exchange.response_head(),
                    digest=digest,
                    refers_to_uri=original.url,
                    refers_to_date=timestamp_to_iso_date(original.timestamp),
                    refers_to_record=None,
                    when=exchange.fetched_at,
                    request_head=exchange.request_head(),
                    extra_headers=extra,
                )
            else:
                written = self.store.write_exchange(
                    exchange.url,
                    request_head=exchange.request_head(),
                    response_head=exchange.response_head(),
                    body=exchange.body,
                    when=exchange.fetched_at,
                    ip_address=exchange.ip_address,
                    extra_headers=extra,
                    payload_digest=digest,
                )
            # The row says what the record says, exactly as `reindex` reads it back.
            row = capture_row(
                written.record, warc=written.warc, offset=written.offset, record_length=written.length,
                sha256=sha256, length=len(exchange.body), redirect_to=redirect_to, surt=surt,
            )
            row.update(
                snapshot_id=snapshot_id, parent_id=parent_id, error=None,
                refers_to_id=original.id if original is not None else None,
            )
            result = self._insert(s, row)
            if _may_lead_on(exchange):  # only pages, stylesheets and redirects have children
                self._record_ids[result.id] = written.record_id
            self._added(snapshot_id, done=1, nbytes=written.length)
            return result

    def _headers(self, snapshot_id: int, role: str, parent_id: int | None, via: str) -> dict[str, str]:
        extra = {ROLE_HEADER: role}
        if snapshot_id in self._snapshot_keys:
            extra[SNAPSHOT_HEADER] = self._snapshot_keys[snapshot_id]
        if parent_id is not None and parent_id in self._record_ids:
            extra[PARENT_HEADER] = self._record_ids[parent_id]
        if via != "http":
            extra[VIA_HEADER] = via
        return extra

    def record_resource(
        self, snapshot_id: int, uri: str, content_type: str, body: bytes, *, role: str,
        parent_id: int | None, via: str = "browser",
    ) -> Recorded:
        """Archive something made of a page (screenshot, rendered DOM) as a resource record named
        `uri` (a `urn:`), tied to the page by the parent header."""
        _, sha256 = payload_digests(body)
        with self._lock:
            s = self._tx()
            written = self.store.write_resource(
                uri, content_type, body, self._headers(snapshot_id, role, parent_id, via)
            )
            row = capture_row(
                written.record, warc=written.warc, offset=written.offset, record_length=written.length,
                sha256=sha256, length=len(body),
            )
            row.update(snapshot_id=snapshot_id, parent_id=parent_id, error=None, refers_to_id=None)
            result = self._insert(s, row)
            self._added(snapshot_id, done=1, nbytes=written.length)
            return result

    def record_failure(
        self, snapshot_id: int, url: str, error: str, *, role: str, parent_id: int | None = None,
        via: str = "http",
    ) -> Recorded:
        """A fetch that got no response: an index row with the reason, no WARC record."""
        with self._lock:
            s = self._tx()
            row = dict(
                snapshot_id=snapshot_id, parent_id=parent_id, url=url, surt=surt_key(url),
                timestamp=now_timestamp(), status=None, mime=None, warc=None, offset=None,
                record_length=None, sha256=None, record_type=None, role=role, error=error, via=via,
            )
            result = self._insert(s, row)
            self._added(snapshot_id, failed=1)
            return result

    def record_links(self, capture_id: int, links: list[tuple[str, str, str]]) -> None:
        """Outlinks of a captured page: (url, anchor text, kind cited|navigation|embed)."""
        if not links:
            return
        with self._lock:
            for start in range(0, len(links), _LINK_BATCH):
                # Bounded transactions: SQLite's write lock is never held long enough for other
                # writers (the parent's heartbeat, another capture) to time out.
                # On the driver's cursor, as `_insert`: the ORM's bulk INSERT of one page's rows
                # cost 180 us, Core's 27 us (benchmarks/history/2026-12-07-p-cpu6-eve.md).
                _insert_links().run_many(
                    self._tx().connection(),
                    [{"capture_id": capture_id, "url": u, "text": t or None, "kind": k}
                     for u, t, k in links[start:start + _LINK_BATCH]],
                )
                if len(links) >= self.batch_size:
                    # A big page (a hub of thousands of links) is followed by a long burst of
                    # requests to queue; commit now so the lock is not held through it.
                    self._commit()

    def start_snapshot(self, snapshot_id: int) -> None:
        """Mark the snapshot running, and write a metadata record describing it and its source:
        with the snapshot header of every record of the snapshot, the WARC files alone say what
        was captured, for which source, and why (`citevault reindex` rebuilds the index so)."""
        with self._lock:
            self._commit()
            started = utcnow()
            with self.index.session() as s:
                # A new session holds no Snapshot yet: nothing to synchronize (the default's
                # evaluator was ~5% of a one-page crawl child's samples, p-jobs5).
                s.execute(
                    update(Snapshot).where(Snapshot.id == snapshot_id)
                    .values(state="running", started_at=started, attempts=Snapshot.attempts + 1)
                    .execution_options(synchronize_session=False)
                )
                snap = s.get(Snapshot, snapshot_id)
                src = s.get(Source, snap.source_id) if snap is not None else None
                if snap is None or src is None:
                    return
                key = self._snapshot_keys.setdefault(snapshot_id, str(uuid.uuid4()))
                info: dict[str, object] = {
                    "type": "citevault-snapshot",
                    "snapshot_key": key,
                    "source": {
                        "url": src.url, "note": src.note, "depth": src.depth, "scope": src.scope,
                        "schedule": src.schedule, "created_at": _dt(src.created_at),
                    },
                    "snapshot": {
                        "trigger": snap.trigger, "queued_at": _dt(snap.queued_at),
                        "started_at": _dt(started), "attempt": snap.attempts,
                    },
                }
            # A urn: target, never the seed's URL: replay tools (and WACZ exports, which carry this
            # record as evidence) must not take it for a capture of the page.
            self.store.write_metadata(f"urn:citevault:snapshot:{key}", info, {SNAPSHOT_HEADER: key})

    def record_snapshot_info(self, snapshot_id: int, kind: str, info: dict[str, object]) -> None:
        """A metadata record about the snapshot as a whole (e.g. kind "tls": each https origin's
        upstream TLS facts), named `urn:citevault:<kind>:<snapshot key>` and carrying the snapshot
        header, so it is found from the WARC files alone."""
        with self._lock:
            key = self._snapshot_keys.get(snapshot_id)
            if key is None:
                return
            body: dict[str, object] = {"type": f"citevault-{kind}", "snapshot_key": key, **info}
            self.store.write_metadata(f"urn:citevault:{kind}:{key}", body, {SNAPSHOT_HEADER: key})


@functools.cache
def _insert_capture() -> DriverStatement:
    return DriverStatement(insert(Capture).returning(Capture.id))


@functools.cache
def _insert_links() -> DriverStatement:
    return DriverStatement(insert(Link))


def _dt(when: datetime | None) -> str | None:
    """A naive UTC datetime of the index, exactly (microseconds kept): ISO 8601 with Z."""
    return when.isoformat(timespec="microseconds") + "Z" if when is not None else None


def _may_lead_on(exchange: Exchange) -> bool:
    """Whether a capture can be the parent of others (the crawl follows links only from these)."""
    mime = exchange.mime()
    return 300 <= exchange.status < 400 or mime == "text/css" or mime in HTML_TYPES
