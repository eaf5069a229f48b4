"""The pending-request queue: Scrapy's LIFO order, memory up to the crawl's budget, disk beyond."""

from __future__ import annotations

from pathlib import Path

from scrapy import Request
from scrapy.utils.test import get_crawler

from citevault.crawler.pendingqueue import SpillingLifoQueue


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
