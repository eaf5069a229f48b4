"""The spider's one condition for reading a fetched page's links (`spider.reads_links`): `parse`
builds a tree for exactly the pages whose links `_parse_http` then reads from that tree, and the
pages above `STREAM_ABOVE` go to the streaming pass instead, never parsed."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterable
from types import SimpleNamespace
from typing import Any

import pytest
from scrapy import Request
from scrapy.http import HtmlResponse, Response

from citevault.crawler import spider as spider_module
from citevault.crawler.links import PageLinks
from citevault.crawler.middlewares import RAW_META_KEY
from citevault.crawler.progress import Seed
from citevault.crawler.recorder import Exchange, Recorded
from citevault.crawler.spider import CaptureSpider, reads_links

URL = "http://site.test/page"
SMALL = b"<html><body><p><a href='/cited'>a citation</a></p></body></html>"
LARGE = SMALL.replace(b"</body>", b"<p>" + b"words " * 60 + b"</p></body>")
STREAM_ABOVE = 200  # what the test makes of linkstream.STREAM_ABOVE (4 MB) for the spider
TREE = object()  # what the patched page_tree returns


class _Recorder:
    """Takes what the spider records, and says what a recorder would."""

    def record(self, snapshot_id: int, exchange: Exchange, *, role: str, parent_id: int | None = None,
               redirect_to: str | None = None, via: str = "http") -> Recorded:
        return Recorded(id=7, url=exchange.url, status=exchange.status, role=role, mime=exchange.mime(),
                        timestamp="20261207000000", warc="a.warc.gz", offset=0, length=10, sha256=None,
                        error=None)

    def record_failure(self, *args: Any, **kwargs: Any) -> None:
        return None

    def record_links(self, *args: Any) -> None:
        return None

    def commit(self) -> None:
        return None


def _response(mime: str, role: str, status: int, text: bool, body: bytes) -> Response:
    headers = [("Content-Type", mime)] if mime else []
    exchange = Exchange(URL, "GET", [], status, headers, body)
    meta = {"cv_seed": Seed(1, URL, depth=0), "cv_role": role, "cv_level": 0, "cv_parent": None,
            "cv_hops": 0, RAW_META_KEY: exchange}
    request = Request(URL, meta=meta)
    if text:
        return HtmlResponse(URL, status=status, body=body, encoding="utf-8", request=request)
    return Response(URL, status=status, body=body, request=request)


async def _drain(requests: Iterable[Request] | AsyncIterator[Request]) -> None:
    assert isinstance(requests, AsyncIterator)
    async for _ in requests:
        pass


async def _done(value: Any) -> Any:
    return value


CASES = list(itertools.product(
    ("text/html", "application/xhtml+xml", "text/css", "text/plain", "image/png", ""),
    ("seed", "cited", "requisite"),
    (200, 204, 302, 404, 500),
    (True, False),
    (SMALL, LARGE),
))


@pytest.mark.parametrize(("mime", "role", "status", "text", "body"), CASES)
def test_a_page_is_parsed_exactly_when_its_links_are_read_from_the_tree(
    monkeypatch: pytest.MonkeyPatch, mime: str, role: str, status: int, text: bool, body: bytes
) -> None:
    parsed: list[bytes] = []
    streamed: list[bytes] = []
    followed: list[tuple[PageLinks | None, Any]] = []

    def page_tree(body: bytes, url: str, encoding: str | None) -> Any:
        parsed.append(body)
        return TREE

    def extract_streamed(body: bytes, url: str, **kwargs: Any) -> PageLinks:
        streamed.append(body)
        return PageLinks()

    monkeypatch.setattr(spider_module, "STREAM_ABOVE", STREAM_ABOVE)
    monkeypatch.setattr(spider_module, "page_tree", page_tree)
    monkeypatch.setattr(spider_module, "extract_streamed", extract_streamed)
    # The streaming pass runs in Twisted's thread pool: here, at once.
    monkeypatch.setattr(spider_module, "threads", SimpleNamespace(
        deferToThread=lambda f, *args, **kwargs: f(*args, **kwargs)))
    monkeypatch.setattr(spider_module, "maybe_deferred_to_future", _done)
    spider = CaptureSpider(seeds=[], recorder=_Recorder())  # type: ignore[arg-type]

    def follow_page(seed: Seed, rec: Recorded, level: int, body: bytes, base_url: str, *,
                    encoding: str | None = None, page: PageLinks | None = None,
                    tree: Any = None) -> list[Request]:
        followed.append((page, tree))
        return []

    monkeypatch.setattr(spider, "follow_page", follow_page)
    response = _response(mime, role, status, text, body)
    asyncio.run(_drain(spider.parse(response)))

    read = mime in ("text/html", "application/xhtml+xml") and role in ("seed", "cited") and \
        200 <= status < 300 and text
    assert reads_links(response, role, mime) is read
    if not read:
        assert (parsed, streamed, followed) == ([], [], [])
    elif len(body) <= STREAM_ABOVE:
        assert (parsed, streamed) == ([body], [])
        assert followed == [(None, TREE)]  # the links come from the tree parse built, parsed once
    else:
        assert (parsed, streamed) == ([], [body])
        assert len(followed) == 1 and followed[0][0] is not None and followed[0][1] is None
