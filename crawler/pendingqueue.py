"""The crawl's queue of pending requests: the first few thousand wait in memory, only the rest on
disk, so a crawl's memory stays flat without a file per host and priority.

Scrapy's priority queues (`DownloaderAwarePriorityQueue` over `ScrapyPriorityQueue`) drop a
host's queue when it empties and build a new one at its next request; with Scrapy's disk queue
every one of those makes a directory and a file, removed again at the next pop (about 1,000
mkdir/rmdir for 1,084 URLs, 15% of the crawl process's py-spy samples, and a `Request.to_dict`
plus pickle per request: benchmarks/history/2026-12-07-p-cpu5.md). `SpillingLifoQueue` is the
disk queue Scrapy builds for each host and priority (SCHEDULER_DISK_QUEUE): it keeps requests
as they are while the crawl holds fewer than CITEVAULT_QUEUE_MEMORY of them in memory, and
opens its file (Scrapy's own `PickleLifoDiskQueue`) only for what is beyond that.

Order is Scrapy's LIFO, exactly: the disk holds the bottom of the stack, memory the top. When
the crawl's budget is spent, a push moves this queue's oldest request in memory to the top of
its file. Closing writes what is still in memory to the file, as a disk queue would.
"""

from __future__ import annotations

import weakref
from collections import deque
from pathlib import Path
from typing import Any, cast

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.squeues import PickleLifoDiskQueue

DEFAULT_MEMORY = 2000


class _Budget:
    """Requests held in memory by all the queues of one crawl."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0


_budgets: weakref.WeakKeyDictionary[Crawler, _Budget] = weakref.WeakKeyDictionary()


class SpillingLifoQueue:
    """A LIFO queue of requests, in memory up to the crawl's budget, spilled to disk beyond it."""

    def __init__(self, crawler: Crawler, key: str) -> None:
        self._crawler = crawler
        self._key = key
        budget = _budgets.get(crawler)
        if budget is None:
            limit = crawler.settings.getint("CITEVAULT_QUEUE_MEMORY", DEFAULT_MEMORY)
            budget = _budgets[crawler] = _Budget(limit)
        self._budget = budget
        self._memory: deque[Request] = deque()
        # A file left by an earlier run of this job directory is this queue's bottom part.
        self._disk: Any = None
        if Path(key).exists():
            self._disk_queue()

    @classmethod
    def from_crawler(cls, crawler: Crawler, key: str, *args: Any, **kwargs: Any) -> SpillingLifoQueue:
        return cls(crawler, key)

    def _disk_queue(self) -> Any:
        if self._disk is None:
            # Typed by Scrapy as queuelib's BaseQueue, whose constructor takes no crawler.
            self._disk = cast(Any, PickleLifoDiskQueue)(self._crawler, self._key)
        return self._disk

    def push(self, request: Request) -> None:
        budget = self._budget
        if budget.used < budget.limit:
            self._memory.append(request)
            budget.used += 1
        elif self._memory:
            try:
                self._disk_queue().push(self._memory[0])
            except ValueError:  # a request pickle cannot store (a lambda in its meta) stays here
                budget.used += 1
            else:
                self._memory.popleft()
            self._memory.append(request)
        else:
            self._disk_queue().push(request)

    def pop(self) -> Request | None:
        if self._memory:
            self._budget.used -= 1
            return self._memory.pop()
        if self._disk is not None:
            request: Request | None = self._disk.pop()
            return request
        return None

    def peek(self) -> Request | None:
        if self._memory:
            return self._memory[-1]
        if self._disk is not None:
            request: Request | None = self._disk.peek()
            return request
        return None

    def close(self) -> None:
        if self._memory:
            disk = self._disk_queue()
            for request in self._memory:
                disk.push(request)
            self._budget.used -= len(self._memory)
            self._memory.clear()
        if self._disk is not None:
            self._disk.close()

    def __len__(self) -> int:
        return len(self._memory) + (len(self._disk) if self._disk is not None else 0)
