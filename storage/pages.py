"""Page metadata in the index: one row per archived page (title, authors, date, site, language,
description, main text), written after capture or by `reindex`, read by citations and search."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from .models import Base, Capture

__all__ = ["Page", "PageInfo", "page_info", "pages_of", "store_pages", "tweet_page"]


class Page(Base):
    """Metadata and main text of one archived page (or of a tweet's or video's oEmbed document).
    The full-text index over title, URL and text is kept by the database (see citevault.storage.search)."""

    __tablename__ = "pages"
    __table_args__ = (
        Index("ix_pages_surt_ts", "surt", "timestamp"),
        Index("ix_pages_timestamp", "timestamp"),
        Index("ix_pages_subject_url", "subject_url"),
    )

    capture_id: Mapped[int] = mapped_column(ForeignKey("captures.id"), primary_key=True)
    # Copies of the capture's fields that searches filter on, so a search reads one table.
    url: Mapped[str] = mapped_column(Text)
    surt: Mapped[str] = mapped_column(Text)
    timestamp: Mapped[str] = mapped_column(String(14))
    role: Mapped[str] = mapped_column(String(16))
    status: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # html|tweet|oembed
    title: Mapped[str | None] = mapped_column(Text)
    authors: Mapped[str | None] = mapped_column(Text)  # JSON list of names
    published: Mapped[str | None] = mapped_column(String(10))  # YYYY-MM-DD
    site: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(35))
    description: Mapped[str | None] = mapped_column(Text)
    handle: Mapped[str | None] = mapped_column(String(64))
    subject_url: Mapped[str | None] = mapped_column(Text)  # the tweet an oEmbed document is about
    text: Mapped[str] = mapped_column(Text)


@dataclass(frozen=True)
class PageInfo:
    """The metadata of one page as citations use it."""

    capture_id: int
    url: str
    timestamp: str
    status: int | None
    kind: str
    title: str | None
    authors: list[str] = field(default_factory=list)
    published: str | None = None
    site: str | None = None
    language: str | None = None
    description: str | None = None
    handle: str | None = None
    subject_url: str | None = None
    text: str = ""

    def as_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "kind", "title", "authors", "published", "site", "language", "description", "handle",
        )}


def _info(row: Page) -> PageInfo:
    try:
        authors = json.loads(row.authors) if row.authors else []
    except ValueError:
        authors = []
    return PageInfo(
        capture_id=row.capture_id, url=row.url, timestamp=row.timestamp, status=row.status, kind=row.kind,
        title=row.title, authors=[str(a) for a in authors] if isinstance(authors, list) else [],
        published=row.published, site=row.site, language=row.language, description=row.description,
        handle=row.handle, subject_url=row.subject_url, text=row.text,
    )


def store_pages(session: Session, items: Iterable[tuple[Capture, Mapping[str, Any]]]) -> int:
    """Insert (or replace) the page rows of captures; `meta` holds PageMetadata's fields."""
    rows = []
    for cap, meta in items:
        rows.append(Page(
            capture_id=cap.id, url=cap.url, surt=cap.surt, timestamp=cap.timestamp, role=cap.role,
            status=cap.status, kind=str(meta.get("kind") or "html")[:16], title=meta.get("title"),
            authors=json.dumps(list(meta.get("authors") or [])), published=meta.get("published"),
            site=meta.get("site"), language=meta.get("language"), description=meta.get("description"),
            handle=meta.get("handle"), subject_url=meta.get("subject_url"), text=meta.get("text") or "",
        ))
    if not rows:
        return 0
    session.execute(delete(Page).where(Page.capture_id.in_([r.capture_id for r in rows])))
    session.add_all(rows)
    session.flush()
    return len(rows)


def page_info(session: Session, capture: Capture) -> PageInfo | None:
    """The metadata of a capture's page; a revisit has that of the response it repeats."""
    row = session.get(Page, capture.id)
    if row is None and capture.refers_to_id is not None:
        row = session.get(Page, capture.refers_to_id)
    if row is None and capture.record_type == "revisit" and capture.digest:
        row = session.scalar(
            select(Page).join(Capture, Capture.id == Page.capture_id)
            .where(Capture.surt == capture.surt, Capture.digest == capture.digest)
            .order_by(Capture.timestamp.desc()).limit(1)
        )
    return _info(row) if row is not None else None


def pages_of(session: Session, capture_ids: Sequence[int]) -> dict[int, PageInfo]:
    """Metadata of several captures at once, by capture id."""
    if not capture_ids:
        return {}
    rows = session.scalars(select(Page).where(Page.capture_id.in_(list(capture_ids))))
    return {r.capture_id: _info(r) for r in rows}


def tweet_page(session: Session, tweet_url: str) -> PageInfo | None:
    """The newest archived oEmbed metadata of a tweet, by the tweet's URL (query string ignored)."""
    base = tweet_url.split("?")[0].split("#")[0]
    candidates = {base, base.replace("://x.com/", "://twitter.com/"), base.replace("://twitter.com/", "://x.com/")}
    row = session.scalar(
        select(Page).where(Page.subject_url.in_(sorted(candidates)), Page.kind == "tweet")
        .order_by(Page.timestamp.desc()).limit(1)
    )
    return _info(row) if row is not None else None
