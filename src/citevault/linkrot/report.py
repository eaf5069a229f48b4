"""The link-rot report of sources: check every cited URL of a source against its archived copy, keep the
history as LinkCheck rows, and report per citation its state now, since when, and the archived copy
to cite instead."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citevault.storage.index import get_source, surt_key
from citevault.storage.models import Capture, Link, LinkCheck, Snapshot, Source

from ..archive import Archive
from ..memento import replay_url
from ..serializers import iso_utc
from .classify import CheckResult, Reference, read_page
from .fetch import LinkChecker

__all__ = [
    "archived_capture",
    "check_all",
    "check_source",
    "cited_urls",
    "linkcheck_json",
    "reference_copy",
    "report_all",
    "report_source",
]

_CHECK_THREADS = 8  # URLs checked at once; Settings.concurrency_per_host still caps each site


def cited_urls(s: Session, source_id: int) -> list[tuple[str, str, str | None]]:
    """(url, role, anchor text) of what a source cites: its seed URL, then the cited links found in
    its seed captures, first seen first."""
    src = get_source(s, source_id)
    out: dict[str, tuple[str, str, str | None]] = {src.url: (src.url, "seed", None)}
    seed_caps = (
        select(Capture.id).join(Snapshot, Capture.snapshot_id == Snapshot.id)
        .where(Snapshot.source_id == source_id, Capture.role == "seed")
    )
    for url, text in s.execute(
        select(Link.url, Link.text).where(Link.capture_id.in_(seed_caps), Link.kind == "cited")
        .order_by(Link.id)
    ):
        out.setdefault(url, (url, "cited", text))
    return list(out.values())


def archived_capture(s: Session, url: str) -> Capture | None:
    """The newest capture of `url` with a record, preferring 2xx, then 3xx, then anything: the
    copy to cite instead, and the one a check compares with."""
    caps = s.scalars(
        select(Capture).where(Capture.surt == surt_key(url), Capture.warc.is_not(None))
        .order_by(Capture.timestamp.desc(), Capture.id.desc()).limit(50)
    ).all()
    for low, high in ((200, 300), (300, 400), (0, 1000)):
        for c in caps:
            if low <= (c.status or 0) < high:
                return c
    return None


def reference_copy(archive: Archive, url: str) -> Reference | None:
    """The archived copy of `url` a live check compares with (archived redirects followed), or None
    when nothing was archived."""
    with archive.index.session() as s:
        first = cap = archived_capture(s, url)
        for _ in range(5):
            if cap is None or not cap.redirect_to or not 300 <= (cap.status or 0) < 400:
                break
            nxt = archived_capture(s, cap.redirect_to)
            if nxt is None:
                break
            cap = nxt
    if first is None or cap is None:
        return None
    ref = Reference(first.id, first.url, first.timestamp, first.status, cap.url, cap.mime)
    try:
        _, rec = archive.resolve(cap)
    except Exception:  # an unreadable record: compare with nothing rather than fail the check
        return ref
    head = rec.http_headers
    validators: dict[str, str] = {}
    if head is not None and cap is first and first.status == 200:
        for have, send in (("ETag", "If-None-Match"), ("Last-Modified", "If-Modified-Since")):
            if head.get_header(have):
                validators[send] = head.get_header(have)
    page = read_page(rec.decoded, head.get_header("Content-Type") if head else cap.mime, cap.url)
    return Reference(
        first.id, first.url, first.timestamp, first.status, cap.url, cap.mime,
        page.title if page else "", page.text if page else None, validators,
    )


def _row(source_id: int, r: CheckResult) -> LinkCheck:
    return LinkCheck(source_id=source_id, url=r.url, checked_at=r.checked_at, outcome=r.outcome,
                     status=r.status, final_url=r.final_url, similarity=r.similarity, detail=r.detail)


def check_source(
    archive: Archive,
    source_id: int,
    on_progress: Callable[[LinkCheck], None] | None = None,
    checker: LinkChecker | None = None,
) -> list[LinkCheck]:
    """Check every cited URL of a source now and store the results (one LinkCheck row each);
    NotFound for an unknown source. Rows come back in citation order."""
    with archive.index.session() as s:
        targets = cited_urls(s, source_id)
    own = checker is None
    checker = checker or LinkChecker(archive.settings)
    results: dict[str, CheckResult] = {}
    try:
        with ThreadPoolExecutor(max_workers=max(1, min(_CHECK_THREADS, len(targets)))) as pool:
            futures = {
                pool.submit(lambda u: checker.check(u, reference_copy(archive, u)), url): url
                for url, _, _ in targets
            }
            for fut in as_completed(futures):
                res = fut.result()
                results[res.url] = res
                if on_progress is not None:
                    on_progress(_row(source_id, res))
    finally:
        if own:
            checker.close()
    rows = [_row(source_id, results[url]) for url, _, _ in targets]
    with archive.index.session() as s:
        s.add_all(rows)
    return rows


def check_all(
    archive: Archive, on_progress: Callable[[LinkCheck], None] | None = None
) -> dict[int, list[LinkCheck]]:
    """Check every source, one after another, sharing connections."""
    with archive.index.session() as s:
        ids = list(s.scalars(select(Source.id).order_by(Source.id)))
    with LinkChecker(archive.settings) as checker:
        return {sid: check_source(archive, sid, on_progress, checker) for sid in ids}


def linkcheck_json(lc: LinkCheck) -> dict[str, Any]:
    return {
        "url": lc.url,
        "checked_at": iso_utc(lc.checked_at),
        "outcome": lc.outcome,
        "status": lc.status,
        "final_url": lc.final_url,
        "similarity": lc.similarity,
        "detail": lc.detail,
    }


def report_source(archive: Archive, source_id: int, base_url: str) -> dict[str, Any]:
    """Per citation of a source: its state now (the latest check), since when (the first check of
    the current streak of that outcome), and the archived copy to cite instead (replay URL)."""
    with archive.index.session() as s:
        src = get_source(s, source_id)
        targets = cited_urls(s, source_id)
        history: dict[str, list[LinkCheck]] = {}
        for lc in s.scalars(
            select(LinkCheck).where(LinkCheck.source_id == source_id)
            .order_by(LinkCheck.checked_at, LinkCheck.id)
        ):
            history.setdefault(lc.url, []).append(lc)
        archived = {url: archived_capture(s, url) for url, _, _ in targets}
        src_url = src.url
    citations = []
    summary: dict[str, int] = {}
    for url, role, text in targets:
        checks = history.get(url, [])
        last = checks[-1] if checks else None
        since = None
        for lc in reversed(checks):
            if last is None or lc.outcome != last.outcome:
                break
            since = lc.checked_at
        cap = archived[url]
        copy = None if cap is None else {
            "timestamp": cap.timestamp, "url": cap.url, "status": cap.status,
            "replay_url": replay_url(base_url, cap.timestamp, cap.url),
        }
        outcome = last.outcome if last else "unchecked"
        summary[outcome] = summary.get(outcome, 0) + 1
        citations.append({
            "url": url,
            "role": role,
            "text": text,
            "outcome": last.outcome if last else None,
            "status": last.status if last else None,
            "since": iso_utc(since),
            "checked_at": iso_utc(last.checked_at) if last else None,
            "final_url": last.final_url if last else None,
            "similarity": last.similarity if last else None,
            "detail": last.detail if last else None,
            "checks": len(checks),
            "archived": copy,
            # The archived copy whenever the live link is not what was cited, if it is worth citing.
            "cite_instead": copy["replay_url"]
            if copy and cap and (cap.status or 0) < 400 and last and last.outcome != "alive" else None,
        })
    return {"id": source_id, "url": src_url, "summary": summary, "citations": citations}


def report_all(archive: Archive, base_url: str) -> dict[str, Any]:
    with archive.index.session() as s:
        ids = list(s.scalars(select(Source.id).order_by(Source.id)))
    return {"sources": [report_source(archive, sid, base_url) for sid in ids]}
