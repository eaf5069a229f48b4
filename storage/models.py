"""SQLAlchemy models of the index: sources, snapshots, captures, links, link checks, tokens."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "Base", "Capture", "EvidenceRecord", "Link", "LinkCheck", "Snapshot", "Source", "ApiToken", "HTML_TYPES",
    "utcnow",
]

# The Capture.mime values of HTML pages: the ones parsed for links, rewritten in replay, titled
# and checked for link rot.
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


def utcnow() -> datetime:
    """Now as the index stores times: naive UTC (SQLite keeps no time zone)."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Source(Base):
    """What a user cites: one URL with how deep and wide to capture it, and how often."""

    __tablename__ = "sources"
    # One source per URL (a URL added again gets a new snapshot on it). On PostgreSQL the
    # migration (r_rel2_source_url) builds it over md5(url): a B-tree entry cannot hold a long URL.
    __table_args__ = (Index("uq_sources_url", "url", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    surt: Mapped[str] = mapped_column(Text, index=True)
    note: Mapped[str | None] = mapped_column(Text)
    depth: Mapped[int] = mapped_column(Integer, default=1)
    scope: Mapped[str] = mapped_column(String(16), default="cited")
    schedule: Mapped[str | None] = mapped_column(String(64))
    browser: Mapped[str | None] = mapped_column(String(8))  # auto|always|never; None: the setting
    created_at: Mapped[datetime] = mapped_column(DateTime)

    snapshots: Mapped[list[Snapshot]] = relationship(
        back_populates="source", order_by="Snapshot.id", cascade="all, delete-orphan"
    )


class Snapshot(Base):
    """One capture run of a source."""

    __tablename__ = "snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"), index=True)
    trigger: Mapped[str] = mapped_column(String(16), default="cli")  # cli|api|schedule
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    # queued|running|done|partial|failed
    queued_at: Mapped[datetime] = mapped_column(DateTime)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    urls_done: Mapped[int] = mapped_column(Integer, default=0)
    urls_failed: Mapped[int] = mapped_column(Integer, default=0)
    bytes_written: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The worker ("host:pid") running it, and when it last said it still is: a lease, so that
    # work of a crashed worker is queued again (citevault.workqueue).
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)

    source: Mapped[Source] = relationship(back_populates="snapshots")
    captures: Mapped[list[Capture]] = relationship(
        back_populates="snapshot", order_by="Capture.id", foreign_keys="Capture.snapshot_id"
    )


class Capture(Base):
    """One WARC record of one URL, or one fetch that got no response (error set, no record)."""

    __tablename__ = "captures"
    __table_args__ = (Index("ix_captures_surt_ts", "surt", "timestamp"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    snapshot_id: Mapped[int | None] = mapped_column(ForeignKey("snapshots.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("captures.id"))
    url: Mapped[str] = mapped_column(Text)
    surt: Mapped[str] = mapped_column(Text)
    timestamp: Mapped[str] = mapped_column(String(14))  # YYYYMMDDhhmmss, UTC
    status: Mapped[int | None] = mapped_column(Integer)
    mime: Mapped[str | None] = mapped_column(String(255))
    digest: Mapped[str | None] = mapped_column(String(64))  # WARC-style "sha1:BASE32" of payload
    sha256: Mapped[str | None] = mapped_column(String(64))  # hex sha256 of the payload
    length: Mapped[int | None] = mapped_column(BigInteger)  # payload length
    warc: Mapped[str | None] = mapped_column(String(512))  # file name relative to the WARC dir
    offset: Mapped[int | None] = mapped_column(BigInteger)
    record_length: Mapped[int | None] = mapped_column(BigInteger)
    record_type: Mapped[str | None] = mapped_column(String(16))  # response|revisit|resource
    refers_to_id: Mapped[int | None] = mapped_column(ForeignKey("captures.id"))
    role: Mapped[str] = mapped_column(String(16))  # seed|cited|requisite|redirect
    redirect_to: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    via: Mapped[str | None] = mapped_column(String(8))  # http|browser: how the capture was taken

    snapshot: Mapped[Snapshot | None] = relationship(
        back_populates="captures", foreign_keys=[snapshot_id]
    )


class Link(Base):
    """An outlink found in a captured page."""

    __tablename__ = "links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    capture_id: Mapped[int] = mapped_column(ForeignKey("captures.id"), index=True)
    url: Mapped[str] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))  # cited|navigation|embed


class LinkCheck(Base):
    """One health check of a cited URL."""

    __tablename__ = "link_checks"
    __table_args__ = (Index("ix_link_checks_url_checked", "url", "checked_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id"), index=True)
    url: Mapped[str] = mapped_column(Text)
    checked_at: Mapped[datetime] = mapped_column(DateTime)
    outcome: Mapped[str] = mapped_column(String(16))  # alive|redirected|drifted|gone|error
    status: Mapped[int | None] = mapped_column(Integer)
    final_url: Mapped[str | None] = mapped_column(Text)
    similarity: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[str | None] = mapped_column(Text)


class ApiToken(Base):
    """A bearer token for the HTTP API; only its sha256 is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)


class EvidenceRecord(Base):
    """A snapshot's evidence in the WARC files: its provenance record, its manifest (with the
    manifest's SHA-256) and, per Time Stamping Authority, the timestamp token of that digest, or a
    pending row (no record yet) while the TSA could not be reached."""

    __tablename__ = "evidence_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    snapshot_id: Mapped[int | None] = mapped_column(ForeignKey("snapshots.id"), index=True)
    snapshot_key: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # provenance|manifest|timestamp
    state: Mapped[str] = mapped_column(String(16), default="written")  # written|pending
    warc: Mapped[str | None] = mapped_column(String(512))
    offset: Mapped[int | None] = mapped_column(BigInteger)
    record_length: Mapped[int | None] = mapped_column(BigInteger)
    record_id: Mapped[str | None] = mapped_column(String(128))
    sha256: Mapped[str | None] = mapped_column(String(64))  # manifest digest (hex), kept by its token too
    tsa_url: Mapped[str | None] = mapped_column(Text)
    gen_time: Mapped[datetime | None] = mapped_column(DateTime)  # the TSA's time (UTC)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
