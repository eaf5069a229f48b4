"""The SQL of a CDX lookup (cdx.py): one statement per query shape, built once and run with bound
values, its rows read in keyset batches, each from after the last row of the one before."""

from __future__ import annotations

import functools
from collections.abc import Generator
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    or_,
    select,
    tuple_,
)

from citevault.storage.models import Capture

__all__ = ["CdxRow", "Rows", "stream"]

CdxRow = dict[str, str | None]
Rows = Generator[CdxRow, None, None]
# Rows of a lookup's first SELECT, and of each one after it (see stream).
_FIRST = 500
_BATCH = 5000


_COLUMNS = (Capture.surt, Capture.timestamp, Capture.url, Capture.mime, Capture.status,
            Capture.digest, Capture.record_length, Capture.offset, Capture.warc,
            Capture.redirect_to, Capture.record_type)


def _row(r: Any) -> CdxRow:
    digest = r.digest
    if digest and digest.startswith("sha1:"):
        digest = digest[5:]  # CDX convention: the base32 SHA-1 alone
    return {
        "urlkey": r.surt,
        "timestamp": r.timestamp,
        "url": r.url,
        "mime": "warc/revisit" if r.record_type == "revisit" else r.mime,
        "status": str(r.status) if r.status is not None else None,
        "digest": digest,
        "length": str(r.record_length) if r.record_length is not None else None,
        "offset": str(r.offset) if r.offset is not None else None,
        "filename": r.warc,
        "redirect": r.redirect_to,
        "robotflags": None,
    }


@functools.cache
def _select(pg: bool, ranges: int, by_key: bool, side: str, descending: bool,
            bounds: tuple[bool, bool], statuses: tuple[bool, ...], limited: bool, rest: bool) -> Select[Any]:
    """The lookup statement of one query shape, built once: building a Select and its cache key
    took more CPU than PostgreSQL spends answering it. Values are bound per call (_params): `key`
    (ranges == 0) or `lo0`/`hi0`.. (SURT ranges, ORed), `from`/`to`, `ts` (side before/after
    the closest timestamp), `status0`.. (pushed-down status filters, True: negated), `limit`, and
    for the `rest` after a first batch `after0`.. (the last row's sort keys).
    SURT ranges must compare code points, so on PostgreSQL they use COLLATE "C" and its index
    on (surt COLLATE "C", timestamp, id), the whole sort order (migration p_cdx5_surt_c_ts_id);
    SQLite's default BINARY collation already compares code points, and its (surt, timestamp)
    index ends with the rowid, id."""
    col = Capture.surt.collate("C") if pg else Capture.surt
    text = functools.partial(bindparam, type_=String)
    where: list[ColumnElement[bool]] = [Capture.warc.is_not(None)]
    if bounds[0]:
        where.append(Capture.timestamp >= text("from"))
    if bounds[1]:
        where.append(Capture.timestamp <= text("to"))
    if ranges:
        scopes = [and_(col >= text(f"lo{i}"), col < text(f"hi{i}")) for i in range(ranges)]
        where.append(or_(*scopes) if ranges > 1 else scopes[0])
    else:  # an equality means the same in either collation; "C" lets its index give the order
        where.append(col == text("key"))
    for i, negate in enumerate(statuses):
        code = bindparam(f"status{i}", type_=Integer)
        where.append(or_(Capture.status.is_(None), Capture.status != code) if negate
                     else Capture.status == code)
    if side == "before":
        where.append(Capture.timestamp <= text("ts"))
    elif side == "after":
        where.append(Capture.timestamp > text("ts"))
    keys: list[Any] = [*([col] if by_key else []), Capture.timestamp, Capture.id]
    if rest:
        last = tuple_(*(bindparam(f"after{i}", type_=k.type) for i, k in enumerate(keys)))
        where.append(tuple_(*keys) < last if descending else tuple_(*keys) > last)
    columns: list[Any] = [*_COLUMNS, *(k.label(f"_key{i}") for i, k in enumerate(keys))]
    stmt: Select[Any] = (select(*columns).where(*where)
                         .order_by(*(k.desc() for k in keys) if descending else keys))
    if limited:
        stmt = stmt.limit(bindparam("limit", type_=Integer))
    return stmt


def stream(conn: Connection, shape: tuple[Any, ...], params: dict[str, Any], limit: int | None) -> Rows:
    """The rows of the statement of `shape` (_select's arguments but `limited` and `rest`), at
    most `limit`, read in keyset batches of plain SELECTs: the first _FIRST rows (most answers
    fit), then _BATCH at a time from after the last row seen. No offset goes stale between two
    statements, and no server-side cursor is held: on PostgreSQL one costs DECLARE, FETCH and
    CLOSE round trips and needs a transaction, which lookups do without (Index.reading)."""
    size, rest, left = _FIRST, False, limit
    while True:
        want = size if left is None else min(size, left)
        rows = conn.execute(_select(*shape, True, rest), params | {"limit": want}).all()
        for r in rows:
            yield _row(r)
        if len(rows) < want or (left is not None and left == want):
            return
        if left is not None:
            left -= want
        params = params | {f"after{i}": v for i, v in enumerate(rows[-1][len(_COLUMNS):])}
        size, rest = _BATCH, True
