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

Scrapy still drops and rebuilds a host's queues as they empty and refill (1,020 times for the
benchmark farm's 1,084 URLs): `SlotQueues` spares each drop its `rmdir` of a directory that is
not there, and a rebuilt `SpillingLifoQueue` looks for a file left on disk only where one can be.
"""

from __future__ import annotations

import os
import weakref
from collections import deque
from typing import Any, cast

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.pqueues import DownloaderAwarePriorityQueue
from scrapy.squeues import PickleLifoDiskQueue

DEFAULT_MEMORY = 2000


class _Budget:
    """Requests held in memory by all the queues of one crawl, and what its queues know of the
    disk: the keys looked for there (a file left by an earlier run of the job directory), and
    the keys this crawl's queues opened a file for."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.looked: set[str] = set()
        self.on_disk: set[str] = set()


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
        # A file left by an earlier run of this job directory is this queue's bottom part. Looked
        # for once per key and crawl, and again only where a queue of this crawl made one: a
        # stat per rebuilt queue was most of its construction (34 us of thread CPU in a crawl).
        self._disk: Any = None
        if key in budget.on_disk or key not in budget.looked:
            budget.looked.add(key)
            if os.path.exists(key):
                self._disk_queue()

    @classmethod
    def from_crawler(cls, crawler: Crawler, key: str, *args: Any, **kwargs: Any) -> SpillingLifoQueue:
        return cls(crawler, key)

    def _disk_queue(self) -> Any:
        if self._disk is None:
            self._budget.on_disk.add(self._key)
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


class SlotQueues(DownloaderAwarePriorityQueue):
    """Scrapy's queues per download slot (SCHEDULER_PRIORITY_QUEUE), without the `rmdir` of each
    emptied slot's directory: with `SpillingLifoQueue` a slot has one only if it spilled to disk
    (beyond CITEVAULT_QUEUE_MEMORY pending requests), so the call failed a thousand times a crawl
    (12 us of thread CPU each, with the path's MD5). The directories of slots that did spill stay,
    empty, until the crawl's job directory goes at its end (crawler/job.py)."""

    def pop(self) -> Request | None:
        key, self.key = self.key, ""  # Scrapy removes an emptied slot's directory only with a key
        try:
            return super().pop()
        finally:
            self.key = key
