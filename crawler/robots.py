"""Scrapy's robots.txt middleware, with every request that waits for a host's robots.txt getting
the parsed rules.

Scrapy 2.19's `RobotsTxtMiddleware.robot_parser` hands one pending Deferred to every request that
arrives while robots.txt is being fetched, and each of them awaits it as a future: the first
awaiter consumes the result and the others get None, which reads as "no robots.txt", so pages the
site disallows were fetched whenever several were queued at once. Here each waiter gets a Deferred
of its own, fed from the pending one.
"""

from __future__ import annotations

from scrapy import Request
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware as _ScrapyRobots
from scrapy.robotstxt import RobotParser
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.defer import Deferred

__all__ = ["RobotsTxtMiddleware"]


class RobotsTxtMiddleware(_ScrapyRobots):
    async def robot_parser(self, request: Request) -> RobotParser | None:
        pending = self._parsers.get(urlparse_cached(request).netloc)
        if isinstance(pending, Deferred):
            mine: Deferred[RobotParser | None] = Deferred()

            def fan_out(result: RobotParser | None) -> RobotParser | None:
                mine.callback(result)
                return result  # passed on to the next waiter's callback

            pending.addCallback(fan_out)
            return await maybe_deferred_to_future(mine)
        return await super().robot_parser(request)
