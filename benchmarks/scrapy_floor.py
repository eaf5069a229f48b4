"""The plain-Scrapy floor: fetch a list of URLs with Scrapy's defaults and citevault's concurrency,
parse nothing, write nothing. Run as `python benchmarks/scrapy_floor.py URLS_FILE CONC PER_HOST`;
prints how many responses came back."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from typing import Any

import scrapy
from scrapy.crawler import CrawlerProcess
from scrapy.settings import default_settings


class FloorSpider(scrapy.Spider):
    name = "floor"

    def __init__(self, urls: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.urls = urls
        self.responses = 0

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for url in self.urls:
            yield scrapy.Request(url, callback=self.parse, dont_filter=True,
                                 meta={"handle_httpstatus_all": True})

    def parse(self, response: scrapy.http.Response) -> None:
        self.responses += 1

    def closed(self, reason: str) -> None:
        print(self.responses, flush=True)


def main() -> None:
    path, conc, per_host = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    with open(path, encoding="utf-8") as fh:
        urls = [ln.strip() for ln in fh if ln.strip()]
    process = CrawlerProcess({
        "CONCURRENT_REQUESTS": conc,
        "CONCURRENT_REQUESTS_PER_DOMAIN": per_host,
        "ROBOTSTXT_OBEY": False,
        "REDIRECT_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        # citevault leaves Scrapy's remote-control server (and its aiohttp import) out; so does
        # the floor, so that the comparison does not credit citevault with that saving.
        "REMOTE_CONTROL_ENABLED": False,
        "EXTENSIONS_BASE": {k: v for k, v in default_settings.EXTENSIONS_BASE.items()
                            if not k.endswith(".RemoteControl")},
        "LOG_LEVEL": "ERROR",
    })
    process.crawl(FloorSpider, urls=urls)
    process.start()


if __name__ == "__main__":
    main()
