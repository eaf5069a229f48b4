"""What the fork server runs once on its children's engine before it forks (storage.db's
`prepare_engine`): the reads every crawl child and page indexer makes, so that each child finds
them compiled and SQLAlchemy's first load of each entity done, instead of doing both itself."""

from __future__ import annotations

from citevault.storage.db import Index
from citevault.storage.index import revisit_original
from citevault.storage.models import Snapshot, Source

from . import pageindex

__all__ = ["rehearse"]


def rehearse(index: Index) -> None:
    """Read nothing, write nothing: a revisit lookup of a URL never archived, the gets of a
    snapshot and a source that do not exist (the recorder's `start_snapshot`, the seal), and
    the page indexer's queries with no snapshot. Measured in forks of a preloaded process (four
    each, load 13): a crawl child's first revisit lookup 8-9 -> 1.1-1.6 ms of CPU, its two gets
    9-10 -> 4.5-5.3 ms; a page indexer's first query 18-20 -> 10-12 ms."""
    with index.session() as s:
        revisit_original(s, "urn:citevault:rehearsal", "sha1:", "urn:citevault:rehearsal")
        s.get(Snapshot, 0)
        s.get(Source, 0)
    pageindex.rehearse(index)
