"""Index rows from WARC records: the one definition of the capture row a response, revisit or
resource record stands for, used by the recorder when it writes a record and by `reindex` when it
reads one back, so that the two can never disagree."""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from warcio.recordloader import ArcWarcRecord
from warcio.timeutils import iso_date_to_timestamp

from .index import surt_key
from .warcstore import ROLE_HEADER

__all__ = ["capture_row"]


def capture_row(
    rec: ArcWarcRecord,
    *,
    warc: str,
    offset: int,
    record_length: int,
    sha256: str | None,
    length: int,
    redirect_to: str | None = None,
) -> dict[str, Any]:
    """The Capture columns of record `rec`, stored at `warc`:`offset` in `record_length` bytes.
    `sha256` and `length` describe the payload (a revisit's are its original's, when known);
    `redirect_to` defaults to the Location of a record whose role is redirect."""
    head = rec.rec_headers
    url = head.get_header("WARC-Target-URI")
    http = rec.http_headers
    ctype = http.get_header("Content-Type") if http else None
    status = http.get_statuscode() if http else None
    role = head.get_header(ROLE_HEADER) or "requisite"
    if redirect_to is None and role == "redirect" and http is not None:
        location = http.get_header("Location")
        redirect_to = urljoin(url, location.strip()) if location else None
    return dict(
        url=url,
        surt=surt_key(url),
        timestamp=iso_date_to_timestamp(head.get_header("WARC-Date")),
        status=int(status) if status and status.isdigit() else None,
        mime=ctype.split(";")[0].strip().lower() or None if ctype else None,
        digest=head.get_header("WARC-Payload-Digest"),
        sha256=sha256,
        length=length,
        warc=warc,
        offset=offset,
        record_length=record_length,
        record_type=rec.rec_type,
        role=role,
        redirect_to=redirect_to,
    )
