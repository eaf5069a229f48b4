"""What the archive holds near a URL it does not hold: captures of the same host, sharing the
longest path prefix, good statuses first, nearest in time (the "not in the archive" page)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from citevault.storage.index import surt_key
from citevault.storage.models import Capture

__all__ = ["Close", "close_captures"]

# Rows read per path prefix: enough to rank a directory's pages, bounded on a huge host.
_SCAN = 500


@dataclass(frozen=True)
class Close:
    """One archived URL near the one asked for, at its best-fitting capture."""

    url: str
    timestamp: str
    status: int | None


def _status_rank(status: int | None) -> int:
    if status is not None and 200 <= status < 300:
        return 0
    if status is not None and 300 <= status < 400:
        return 1
    return 2  # archived errors last: they are close, but rarely what the reader wants


def _seconds(ts: str) -> float:
    return datetime.strptime(ts.ljust(14, "0")[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC).timestamp()


def _segments(surt_path: str) -> list[str]:
    return [s for s in surt_path.split("?", 1)[0].split("/") if s]


def close_captures(session: Session, url: str, ts: str | None = None, n: int = 8) -> list[Close]:
    """Up to `n` other URLs of `url`'s host in the archive, those sharing the longest path prefix
    with it first, then 2xx before 3xx before errors, then nearest to `ts` (default: newest)."""
    key = surt_key(url)
    host, sep, path = key.partition(")")
    if not sep:
        return []
    want = _segments(path)
    target = _seconds(ts) if ts else datetime.now(UTC).timestamp()
    best: dict[str, tuple[tuple[int, int, float], Close]] = {}
    for depth in range(len(want), -1, -1):
        prefix = f"{host})/" + "".join(f"{s}/" for s in want[:depth])
        rows = session.execute(
            select(Capture.url, Capture.surt, Capture.timestamp, Capture.status)
            .where(Capture.surt.startswith(prefix.rstrip("/") if depth else prefix, autoescape=True),
                   Capture.surt != key, Capture.warc.is_not(None))
            .order_by(Capture.surt).limit(_SCAN)
        ).all()
        for u, surt, when, status in rows:
            if not surt.startswith(f"{host})"):
                continue
            got = _segments(surt.partition(")")[2])
            shared = next((i for i, (a, b) in enumerate(zip(want, got, strict=False)) if a != b),
                          min(len(want), len(got)))
            rank = (-shared, _status_rank(status), abs(_seconds(when) - target))
            if u not in best or rank < best[u][0]:
                best[u] = (rank, Close(u, when, status))
        if len(best) >= n:
            break
    return [c for _, c in sorted(best.values(), key=lambda item: (item[0], item[1].url))][:n]
