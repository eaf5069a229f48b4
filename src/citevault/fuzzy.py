"""Fuzzy lookup for replay, as pywb does it: a script asks for `/api/x.json?v=<now>` at replay
time, a different cache-busting value than the one archived; the capture of the same path whose
other query parameters agree is served instead of "not in the archive".

pywb's default rule matches any capture of the same path (the key up to `?`) and its rules drop
`_`, `cb`, `*cache*`, `utm_*` and jQuery/JSONP callback parameters. We are stricter about what may
differ, so `/search?q=a` never replays as `/search?q=b`: only parameters that are cache-busters by
name, or by value (a number of 10+ digits: a time in s or ms), are ignored; all others must agree.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from citevault.storage.index import parse_timestamp, surt_key, timestamp_to_datetime
from citevault.storage.models import Capture

__all__ = ["fuzzy_capture", "query_key"]

_BUSTER_NAMES = re.compile(
    r"(_|cb|v|t|ts|r|rnd|rand|random|nocache|bust|_ga|\w*cache\w*|utm_\w+|callback|jsonp|_reqid|_dc)",
    re.I,
)
_BUSTER_VALUES = re.compile(r"\d{10,}(\.\d+)?|jQuery\d+_\d+", re.I)
_CANDIDATES = 500  # captures of one path looked at: bounded whatever the archive holds


def query_key(url: str) -> frozenset[tuple[str, str]]:
    """The query parameters that matter for matching: cache-busters (by name or value) dropped."""
    pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    return frozenset(
        (k, v) for k, v in pairs if not _BUSTER_NAMES.fullmatch(k) and not _BUSTER_VALUES.fullmatch(v)
    )


def fuzzy_capture(session: Session, url: str, timestamp: str | None = None) -> Capture | None:
    """The capture (with a record) of the same scheme-less path as `url` whose query agrees with
    it once cache-busters are dropped: a good status first, then nearest in time; None if none."""
    parts = urlsplit(url)
    bare = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    key = surt_key(bare)
    want = query_key(url)
    rows = session.scalars(
        select(Capture)
        .where(or_(Capture.surt == key, Capture.surt.startswith(key + "?", autoescape=True)),
               Capture.warc.is_not(None), Capture.record_type != "resource")
        .order_by(Capture.timestamp.desc(), Capture.id.desc())
        .limit(_CANDIDATES)
    ).all()
    same = [c for c in rows if c.url != url and query_key(c.url) == want]
    if not same:
        return None
    target = timestamp_to_datetime(parse_timestamp(timestamp)) if timestamp else None

    def rank(c: Capture) -> tuple[bool, float]:
        good = c.status is not None and 200 <= c.status < 400
        dist = abs((timestamp_to_datetime(c.timestamp) - target).total_seconds()) if target else 0.0
        return (not good, dist)

    return min(same, key=rank)  # rows are newest first: ties go to the newest
