"""The pending-request queue: Scrapy's LIFO order, memory up to the crawl's budget, disk beyond."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
from scrapy import Request
from scrapy.pqueues import DownloaderAwarePriorityQueue
from scrapy.utils.test import get_crawler

from citevault.crawler.pendingqueue import SlotQueues, SpillingLifoQueue


def _urls(n: int) -> list[str]:
    return [f"http://example.test/{i}" for i in range(n)]


def _drain(q: SpillingLifoQueue) -> list[str]:
    out = []
    while (r := q.pop()) is not None:
        out.append(r.url)
    return out


def test_memory_only_makes_no_file(tmp_path: Path) -> None:
    crawler = get_crawler(settings_dict={"CITEVAULT_QUEUE_MEMORY": 10})
    key = tmp_path / "host" / "0"
    q = SpillingLifoQueue.from_crawler(crawler, str(key))
    for url in _urls(5):
        q.push(Request(url))
    assert len(q) == 5 and q.peek() is not None
    assert not key.parent.exists()
    assert _drain(q) == _urls(5)[::-1]
    q.close()
    assert not key.parent.exists()


def test_spills_beyond_the_budget_in_lifo_order(tmp_path: Path) -> None:
    crawler = get_crawler(settings_dict={"CITEVAULT_QUEUE_MEMORY": 3})
    a = SpillingLifoQueue.from_crawler(crawler, str(tmp_path / "a" / "0"))
    b = SpillingLifoQueue.from_crawler(crawler, str(tmp_path / "b" / "0"))
    for url in _urls(10):
        a.push(Request(url))
    b.push(Request("http://other.test/"))  # the budget is shared: this one goes to disk
    assert (tmp_path / "a" / "0").exists() and (tmp_path / "b" / "0").exists()
    assert len(a) == 10 and len(b) == 1
    popped = [a.pop().url for _ in range(4)]  # type: ignore[union-attr]
    a.push(Request("http://example.test/new"))
    assert popped == _urls(10)[::-1][:4]
    assert _drain(a) == ["http://example.test/new", *_urls(6)[::-1]]
    assert _drain(b) == ["http://other.test/"]
    a.close()
    b.close()
    assert not (tmp_path / "a" / "0").exists()


def test_close_keeps_what_was_in_memory(tmp_path: Path) -> None:
    crawler = get_crawler(settings_dict={"CITEVAULT_QUEUE_MEMORY": 2})
    key = str(tmp_path / "host" / "0")
    q = SpillingLifoQueue.from_crawler(crawler, key)
    for url in _urls(5):
        q.push(Request(url))
    q.close()
    again = SpillingLifoQueue.from_crawler(get_crawler(), key)
    assert len(again) == 5
    assert _drain(again) == _urls(5)[::-1]
    again.close()


def test_a_rebuilt_queue_looks_on_disk_only_where_a_file_can_be(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scrapy rebuilds a host's queue each time it refills: the first queue of a key looks for a
    file an earlier run left; later ones only if a queue of this crawl spilled there."""
    crawler = get_crawler(settings_dict={"CITEVAULT_QUEUE_MEMORY": 2})
    key = str(tmp_path / "host" / "0")
    looked: list[str] = []
    stat = os.stat

    def counting_stat(path: Any, *args: Any, **kwargs: Any) -> Any:
        if os.fspath(path) == key:
            looked.append(key)
        return stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", counting_stat)
    for _ in range(3):  # built, emptied, dropped, built again: memory only
        q = SpillingLifoQueue.from_crawler(crawler, key)
        q.push(Request("http://example.test/"))
        assert q.pop() is not None and len(q) == 0
        q.close()
    assert len(looked) == 1
    q = SpillingLifoQueue.from_crawler(crawler, key)
    for url in _urls(5):  # beyond the budget: this key has a file now
        q.push(Request(url))
    q.close()  # closed holding 5 (as at the end of a crawl): they wait in the file
    looked.clear()
    again = SpillingLifoQueue.from_crawler(crawler, key)
    assert looked and _drain(again) == _urls(5)[::-1]
    again.close()


def _slot_queues(cls: type[DownloaderAwarePriorityQueue], tmp_path: Path) -> DownloaderAwarePriorityQueue:
    crawler = get_crawler(settings_dict={"CITEVAULT_QUEUE_MEMORY": 3})
    downloader = SimpleNamespace(slots={}, get_slot_key=lambda request: urlsplit(request.url).hostname)
    crawler.engine = SimpleNamespace(downloader=downloader)  # type: ignore[assignment]
    return cls.from_crawler(crawler, SpillingLifoQueue, str(tmp_path / "queue"))  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", [SlotQueues, DownloaderAwarePriorityQueue])
def test_slot_queues_empty_a_slot_without_rmdir(
    cls: type[DownloaderAwarePriorityQueue], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scrapy's queues remove an emptied slot's directory, which a slot of SpillingLifoQueues has
    only if it spilled; SlotQueues leave that to the end of the crawl. Same requests, same order."""
    removed: list[Path] = []
    rmdir = Path.rmdir

    def counting_rmdir(self: Path) -> None:
        removed.append(self)
        rmdir(self)

    monkeypatch.setattr(Path, "rmdir", counting_rmdir)
    queues = _slot_queues(cls, tmp_path)
    urls = [f"http://{host}.test/{i}" for i in range(4) for host in ("a", "b")]
    for url in urls:  # 8 requests, 3 in memory: each slot spills
        queues.push(Request(url))
    popped = []
    while (r := queues.pop()) is not None:
        popped.append(r.url)
    assert popped == ["http://a.test/3", "http://b.test/3", "http://a.test/2", "http://b.test/2",
                      "http://a.test/1", "http://b.test/1", "http://a.test/0", "http://b.test/0"]
    assert (removed == []) is (cls is SlotQueues)
    queues.close()
