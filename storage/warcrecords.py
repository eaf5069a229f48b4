"""The pieces of the WARC records the store writes (warcstore.py) that are ours, not warcio's:
digests in WARC's form, the request record of a capture event (its id derived from its
response's, its digests computed here), metadata records' targets and WARC-Date values."""

from __future__ import annotations

import hashlib
import re
from base64 import b32encode
from datetime import UTC, datetime
from io import BytesIO

from warcio.recordbuilder import RecordBuilder
from warcio.recordloader import ArcWarcRecord
from warcio.statusandheaders import StatusAndHeaders
from warcio.timeutils import datetime_to_iso_date
from warcio.warcwriter import WARCWriter

from .warcmember import NoDigests

__all__ = [
    "HTTP_CONTENT_TYPE",
    "metadata_target",
    "payload_digests",
    "request_record",
    "request_record_id",
    "sha1_digest",
    "warc_date",
]


def sha1_digest(data: bytes) -> str:
    """The WARC-style digest of `data`: "sha1:BASE32", as warcio writes it."""
    return "sha1:" + b32encode(hashlib.sha1(data).digest()).decode("ascii")


def payload_digests(payload: bytes) -> tuple[str, str]:
    """(WARC-style "sha1:BASE32", hex sha256) of a payload."""
    return sha1_digest(payload), hashlib.sha256(payload).hexdigest()


# A request's WARC-Payload-Digest: its payload is empty.
_EMPTY_SHA1 = sha1_digest(b"")


class _RequestBuilder(NoDigests, RecordBuilder):  # type: ignore[misc]  # warcio has no type hints
    """warcio's record builder adding no digest: `request_record` adds a request's own. Holds
    no state but its WARC version, so one serves every thread."""


_REQUESTS = _RequestBuilder(warc_version="1.1")


def metadata_target(kind: str, url: str) -> str:
    """The WARC-Target-URI of a metadata record about `url`: `urn:{kind}:{url}`."""
    return f"urn:{kind}:{url}"


# A WARC-Record-ID that warcio makes: a random (version 4) UUID, as a URN.
_UUID4_ID = re.compile(r"<urn:uuid:([0-9a-f]{8}-[0-9a-f]{4})-4([0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})>")
# The Content-Type of request and revisit records: WARC 1.1 (Content-Type) names "application/http"
# and "application/http; msgtype=request" alike; WARC-Type already says which message it is, and
# warcio, pywb and cdxj-indexer read the HTTP message of both by their WARC-Type. 14 B less per
# revisit gzipped (issue 15, target 3). Responses keep warcio's "msgtype=response" form.
HTTP_CONTENT_TYPE = "application/http"


def request_record_id(concurrent_to: str) -> str:
    """The WARC-Record-ID of the request record of a capture event whose response or revisit has
    the id `concurrent_to`: the same UUID with version 8 (RFC 9562's "custom" UUIDs) in place of
    version 4. It is as unique as that random UUID (no other record of ours has a version-8 id),
    and within the request's gzip member it repeats its WARC-Concurrent-To, so deflate stores it
    as a back-reference, as it does in the manifest that lists the two side by side: 22 B less in
    the record and 21 B less in the manifest per capture (issue 15, target 3). An id of another
    form gets a fresh random one."""
    m = _UUID4_ID.fullmatch(concurrent_to)
    if m is None:
        return str(WARCWriter._make_warc_id())
    return f"<urn:uuid:{m.group(1)}-8{m.group(2)}>"


def request_record(url: str, request_head: StatusAndHeaders, date: str, concurrent_to: str, *,
                   digests: bool = True) -> ArcWarcRecord:
    """The request record of a capture event, its id derived from `concurrent_to`'s; without
    `digests`, with neither digest (a revisit's request, `WarcStore.write_revisit`)."""
    rec = _REQUESTS.create_warc_record(
        url, "request", payload=BytesIO(b""), length=0, http_headers=request_head,
        warc_content_type=HTTP_CONTENT_TYPE,
        warc_headers_dict={
            "WARC-Date": date,
            "WARC-Concurrent-To": concurrent_to,
            "WARC-Record-ID": request_record_id(concurrent_to),
        },
    )
    if digests:
        # The digests warcio gives a request, in its order (the payload's when it makes the
        # record, the block's when it writes it), computed here: its block is the HTTP head it
        # writes, its payload empty. warcio's own took two digest objects, reads of the empty
        # stream and two base32 encodings per request: a request built and serialized took
        # 27-29 us, now 20 (timeit, load 15; tests/storage/test_warc_bytes.py holds the bytes).
        rec.rec_headers.add_header("WARC-Payload-Digest", _EMPTY_SHA1)
        rec.rec_headers.add_header("WARC-Block-Digest", sha1_digest(request_head.to_ascii_bytes()))
    return rec


def warc_date(when: datetime) -> str:
    """`when` as a WARC-Date: UTC, ISO 8601 with microseconds."""
    return str(datetime_to_iso_date(when.astimezone(UTC).replace(tzinfo=None), use_micros=True))
