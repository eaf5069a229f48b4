"""What a crawl is given (seeds) and what it reports while it runs (progress counters); kept apart
from the spider so that callers need not import Scrapy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Progress", "Seed"]


# How a page may be captured (Settings.browser, `add --browser`): here, where the app reads it
# without importing the browser modules (and lxml) at start-up.
BROWSER_MODES = ("auto", "always", "never")


@dataclass(frozen=True)
class Seed:
    snapshot_id: int
    url: str
    depth: int = 1
    scope: str = "cited"  # cited|all
    browser: str | None = None  # auto|always|never for this source; None: the crawl's setting


@dataclass
class Progress:
    """Counters for the live display."""

    done: int = 0
    failed: int = 0
    queued: int = 0
    bytes: int = 0
    last_url: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"done": self.done, "failed": self.failed, "queued": self.queued,
                "bytes": self.bytes, "last_url": self.last_url}
