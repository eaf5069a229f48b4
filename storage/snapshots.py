"""Settling snapshots: a finished snapshot's state (done, partial, failed) and counts decided from
its captures, for a crawl that ended or was stopped and for a snapshot `reindex` rebuilt."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from .db import Index
from .index import timestamp_to_datetime
from .models import Capture, Snapshot, utcnow

__all__ = ["finish_snapshots", "settle_rebuilt", "settle_state"]

_SETTLED = ("done", "partial", "failed")


def settle_state(captures: Iterable[tuple[str, str | None, str | None]],
                 error: str | None = None, *, keep_captured: bool = False) -> tuple[str, str | None]:
    """A finished snapshot's (state, error) from its captures' (role, error, warc): failed when
    the seed got no response, partial when something else failed, done otherwise; `error` (the
    crawl itself failed) makes it failed, or partial with `keep_captured` when the seed was
    captured (a crawl the user interrupted still holds what it archived)."""
    caps = list(captures)
    seed_ok = any(r == "seed" and w is not None for r, _, w in caps)
    seed_err = next((e for r, e, _ in caps if r == "seed" and e), None)
    if error is not None:
        return ("partial" if keep_captured and seed_ok else "failed"), error
    if not seed_ok:
        return "failed", seed_err or "the seed page was not captured"
    if any(e for _, e, _ in caps):
        return "partial", None
    return "done", None


def _captures(s: Session, sid: int) -> list[tuple[str, str | None, str | None]]:
    rows = s.execute(select(Capture.role, Capture.error, Capture.warc).where(Capture.snapshot_id == sid))
    return [(r, e, w) for r, e, w in rows]


def finish_snapshots(
    index: Index, snapshot_ids: Iterable[int], error: str | None = None, *, keep_captured: bool = False
) -> None:
    """Settle each unsettled snapshot from its captures (see `settle_state`); `error` marks
    unfinished ones failed (partial with `keep_captured` when the seed was captured)."""
    with index.session() as s:
        for sid in snapshot_ids:
            snap = s.get(Snapshot, sid)
            if snap is None or snap.state in _SETTLED:
                continue
            state, why = settle_state(_captures(s, sid), error, keep_captured=keep_captured)
            s.execute(update(Snapshot).where(Snapshot.id == sid)
                      .values(state=state, error=why, finished_at=utcnow()))


def settle_rebuilt(s: Session, sid: int) -> None:
    """Settle a snapshot rebuilt from WARC files: its state, counts and (as no clock saw it end)
    the time of its last capture as its finish."""
    state, why = settle_state(_captures(s, sid))
    done, nbytes, last = s.execute(
        select(func.count(Capture.id), func.coalesce(func.sum(Capture.record_length), 0),
               func.max(Capture.timestamp)).where(Capture.snapshot_id == sid)
    ).one()
    values: dict[str, Any] = dict(state=state, error=why, urls_done=done, bytes_written=nbytes)
    if last:
        values["finished_at"] = timestamp_to_datetime(last).replace(tzinfo=None)
    s.execute(update(Snapshot).where(Snapshot.id == sid).values(**values))
