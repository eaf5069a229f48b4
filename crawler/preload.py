"""What a crawl fork server (forkserver.py) imports and prepares before it forks its first child:
the modules every crawl child would import again, the work a server for many jobs does once for
all its children, and the database drivers only the index's own database needs."""

from __future__ import annotations

import importlib
import sys

__all__ = ["MANY_JOBS", "PRELOAD", "configure_orm", "import_dialect", "is_dialect", "preload_for",
           "scrapy_components"]

# What a crawl imports before its first request (measured: the child's sys.modules after a
# crawl, benchmarks/history/2026-12-07-and-before.md, p-perf2's (2a)); Twisted's reactor is
# not among them: it is installed by Scrapy in the forked child, never in the server. Scrapy's
# two TLS modules come first: each
# makes deprecated aliases whose creation calls inspect.stack(), a cost that grows with the
# frames above it, and imported at the top of the chain they have the fewest (benchmarks/history/
# 2026-12-07-p-jobs5.md).
PRELOAD = (
    "scrapy.core.downloader.tls",
    "scrapy.core.downloader.contextfactory",
    "citevault.crawler.job",
    "scrapy.crawler",
    "citevault.storage.warcstore",
    "citevault.crawler.provenance",
    "citevault.crawler.recorder",
    "citevault.crawler.spider",
    "citevault.crawler.pageindex",
    "citevault.crawler.seal",
    "citevault.crawler.middlewares",
    "citevault.crawler.politeness",
    "citevault.crawler.guard",
    "citevault.crawler.robots",
    "citevault.crawler.lifecycle",
    "citevault.crawler.tlsfacts",
    "surt",
    "tldextract",
    "sqlalchemy.dialects.sqlite",
    "sqlalchemy.dialects.postgresql.psycopg",
    "trafilatura",
)

# Run in a fork server that serves many jobs, after its imports ("module:function"): work every
# child would repeat, done once for all of them. `add`'s server serves one job: not there.
MANY_JOBS = ("citevault.crawler.metadata:warm_up", "citevault.crawler.seal:warm_up")

_DIALECTS = {"sqlalchemy.dialects.sqlite": "sqlite", "sqlalchemy.dialects.postgresql.psycopg": "postgresql"}


def preload_for(database_url: str) -> tuple[str, ...]:
    """PRELOAD without the drivers of other databases than `database_url`'s (all when empty)."""
    scheme = database_url.partition(":")[0].partition("+")[0]
    if not scheme:
        return PRELOAD
    return tuple(m for m in PRELOAD if _DIALECTS.get(m, scheme) == scheme)


def is_dialect(name: str) -> bool:
    """Whether a PRELOAD entry is a SQLAlchemy dialect (imported with `import_dialect`)."""
    return name in _DIALECTS


def import_dialect(name: str) -> None:
    """A SQLAlchemy dialect module and its DB-API driver (psycopg, sqlite3), which the dialect
    leaves to the first engine: that was every crawl child's and page indexer's own (psycopg:
    55-90 ms of CPU a process, twice a job; benchmarks/history/2026-12-07-p-job6-eve.md)."""
    importlib.import_module(name).dialect.import_dbapi()


def configure_orm() -> None:
    """Configure the index's ORM mappers now if its models are loaded: SQLAlchemy does it on the
    first query otherwise, in every crawl child again (a seventh of a one-page child's CPU)."""
    if "citevault.storage.models" in sys.modules:
        from sqlalchemy.orm import configure_mappers

        configure_mappers()


def scrapy_components() -> list[str]:
    """The modules of the components Scrapy loads by name in every crawl (its default
    middlewares, extensions, handlers, queues): imported once here, not in each child."""
    from scrapy.settings import default_settings as d

    paths = [*d.DOWNLOADER_MIDDLEWARES_BASE, *d.SPIDER_MIDDLEWARES_BASE, *d.EXTENSIONS_BASE,
             *d.DOWNLOAD_HANDLERS_BASE.values(), d.SCHEDULER, d.SCHEDULER_PRIORITY_QUEUE,
             d.SCHEDULER_DISK_QUEUE, d.SCHEDULER_MEMORY_QUEUE, d.DUPEFILTER_CLASS, d.STATS_CLASS,
             d.LOG_FORMATTER]
    # The remote control is left out of every crawl (job.py `_extensions_base`): not imported.
    return [p.rpartition(".")[0] for p in paths if isinstance(p, str) and not p.endswith(".RemoteControl")]
