"""Queries over the index: captures by URL and time, sources and their snapshots."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Select, String, bindparam, func, select
from sqlalchemy.orm import Session
from warcio.timeutils import datetime_to_timestamp
from warcio.timeutils import timestamp_to_datetime as _timestamp_to_datetime

from .driverstatement import DriverStatement
from .errors import BadInput, NotFound
from .models import Capture, Snapshot, Source

__all__ = [
    "Original",
    "closest_capture",
    "get_source",
    "history",
    "latest_with_digest",
    "now_timestamp",
    "parse_timestamp",
    "revisit_original",
    "surt_key",
    "timestamp_to_datetime",
]


@functools.lru_cache(maxsize=4096)
def surt_key(url: str) -> str:
    """The SURT sort key of a URL, as pywb and the Wayback Machine write it. Cached: surt takes
    24 us a URL, and one replay keys the same URL (and its urn: records) up to ten times."""
    # Imported on first use: surt pulls in tldextract and requests, start-up CPU of every
    # CLI command that never computes a key (benchmarks/startup.py).
    import surt as _surt

    try:
        return str(_surt.surt(url))
    except Exception:
        return url.lower()


def now_timestamp(when: datetime | None = None) -> str:
    """The 14-digit timestamp of `when` (an aware datetime; default now)."""
    return str(datetime_to_timestamp((when or datetime.now(UTC)).astimezone(UTC)))


def parse_timestamp(ts: str) -> str:
    """A 1-14 digit Wayback timestamp widened to 14 digits (missing parts take their earliest
    value, as the Wayback Machine does); BadInput when it is not one."""
    if not ts.isdigit() or not 1 <= len(ts) <= 14:
        raise BadInput(f"bad timestamp {ts!r}: want 1 to 14 digits, YYYYMMDDhhmmss")
    full = ts + "00000101000000"[len(ts):]
    try:  # datetime names the part out of range ("month must be in 1..12"); strptime would not
        datetime(int(full[:4]), int(full[4:6]), int(full[6:8]), int(full[8:10]), int(full[10:12]),
                 int(full[12:]))
    except ValueError as exc:
        raise BadInput(f"bad timestamp {ts!r}: {exc}") from exc
    return full


def timestamp_to_datetime(ts: str) -> datetime:
    """An aware UTC datetime of a 14-digit timestamp."""
    return _timestamp_to_datetime(ts, tz_aware=True)  # type: ignore[no-any-return]


def _by_url(url: str) -> Select[Any]:
    return select(Capture).where(Capture.surt == surt_key(url))


def history(session: Session, url: str) -> Sequence[Capture]:
    """Every capture of one URL (SURT-equal), oldest first."""
    return list(session.scalars(_by_url(url).order_by(Capture.timestamp, Capture.id)))


@functools.cache
def _closest_queries(with_record: bool) -> tuple[Select[Any], Select[Any], Select[Any]]:
    """The newest capture of a SURT, the newest at or before a timestamp, the oldest after it:
    built once, bound per call (building them per replay was a third of their cost)."""
    q = select(Capture).where(Capture.surt == bindparam("surt", type_=String))
    if with_record:
        q = q.where(Capture.warc.is_not(None))
    ts = bindparam("ts", type_=String)
    desc = (Capture.timestamp.desc(), Capture.id.desc())
    return (q.order_by(*desc).limit(1), q.where(Capture.timestamp <= ts).order_by(*desc).limit(1),
            q.where(Capture.timestamp > ts).order_by(Capture.timestamp, Capture.id).limit(1))


def closest_capture(
    session: Session, url: str, timestamp: str | None = None, *, with_record: bool = True
) -> Capture:
    """The capture of `url` nearest to `timestamp` (default: newest). NotFound when none."""
    newest, before_q, after_q = _closest_queries(with_record)
    key = surt_key(url)
    if timestamp is None:
        cap: Capture | None = session.scalars(newest, {"surt": key}).first()
    else:
        ts = parse_timestamp(timestamp)
        before: Capture | None = session.scalars(before_q, {"surt": key, "ts": ts}).first()
        after: Capture | None = session.scalars(after_q, {"surt": key, "ts": ts}).first()
        target = timestamp_to_datetime(ts)
        cands = [c for c in (before, after) if c is not None]
        cap = min(
            cands, key=lambda c: abs((timestamp_to_datetime(c.timestamp) - target).total_seconds()),
            default=None,
        )
    if cap is None:
        raise NotFound(f"no archived copy of {url}")
    return cap


def latest_with_digest(session: Session, url: str, digest: str) -> Capture | None:
    """The newest response record of `url` whose payload digest is `digest` (for revisits)."""
    found: Capture | None = session.scalars(
        _by_url(url)
        .where(Capture.digest == digest, Capture.record_type == "response", Capture.url == url)
        .order_by(Capture.timestamp.desc(), Capture.id.desc())
        .limit(1)
    ).first()
    return found


@functools.cache
def _revisit_query() -> DriverStatement:
    # Built once: building a Select and its cache key cost more than running it (benchmarks/
    # record_cpu.py), and only the three columns a revisit record names are fetched; run on the
    # driver's cursor (driverstatement.py: SQLAlchemy's execution was most of its cost).
    return DriverStatement(
        select(Capture.id, Capture.url, Capture.timestamp)
        .where(Capture.surt == bindparam("surt"), Capture.digest == bindparam("digest"),
               Capture.record_type == "response", Capture.url == bindparam("url"))
        .order_by(Capture.timestamp.desc(), Capture.id.desc())
        .limit(1)
    )


class Original(NamedTuple):
    """The capture a revisit record refers to."""

    id: int
    url: str
    timestamp: str


def revisit_original(session: Session, url: str, digest: str, surt: str | None = None) -> Original | None:
    """What `latest_with_digest` finds, as (id, url, timestamp): the capture flow's cheap form,
    run once per archived record. `surt` spares computing the key again."""
    params = {"surt": surt if surt is not None else surt_key(url), "digest": digest, "url": url}
    row = _revisit_query().first(session.connection(), params)
    return Original(*row) if row is not None else None


def get_source(session: Session, source_id: int) -> Source:
    src = session.get(Source, source_id)
    if src is None:
        raise NotFound(f"no source with id {source_id}")
    return src


def snapshot_counts(session: Session, snapshot_id: int) -> dict[str, int]:
    rows = session.execute(
        select(Capture.role, func.count()).where(Capture.snapshot_id == snapshot_id).group_by(Capture.role)
    ).all()
    return {role: n for role, n in rows}


def get_snapshot(session: Session, snapshot_id: int) -> Snapshot:
    snap = session.get(Snapshot, snapshot_id)
    if snap is None:
        raise NotFound(f"no snapshot with id {snapshot_id}")
    return snap
