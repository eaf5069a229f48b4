"""The browser pool on its own: a page rendered from what the fetcher answers, a Chromium that
crashes mid-page fails that page with the reason, and the next page gets a fresh browser."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from citevault.crawler.browser import BrowserFailed, BrowserPool, BrowserRequest, Fetched, PageOptions
from tests.sites.modern import GIF

pytestmark = pytest.mark.slow

PAGE = b'<!DOCTYPE html><html><head><title>T</title></head><body><p>hello</p><img src="/a.gif"></body></html>'
HTML = [("Content-Type", "text/html; charset=utf-8")]


def _browser_processes() -> list[int]:
    """This test process's Chromium browser processes (not its renderers or helpers)."""
    me = os.getpid()
    parents: dict[int, int] = {}
    cmds: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                cmds[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            parents[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[1])

    def under_me(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == me:
                return True
        return False

    return [p for p, c in cmds.items() if "chromium" in c and "--type=" not in c and under_me(p)]


def test_crash_fails_the_page_and_the_next_page_gets_a_new_browser(modern_chromium: str) -> None:
    async def scenario() -> tuple[str, str]:
        pool = BrowserPool(modern_chromium, size=1, options=PageOptions(budget=20))
        crashed = False

        async def crash(req: BrowserRequest) -> Fetched:
            nonlocal crashed
            if not crashed:
                crashed = True
                for pid in _browser_processes():
                    os.kill(pid, signal.SIGKILL)
                while _browser_processes():  # until the kernel has it gone
                    await asyncio.sleep(0.05)
            return Fetched(200, [("Content-Type", "image/gif")], GIF)

        try:
            try:
                await pool.render("https://a.test/one", Fetched(200, HTML, PAGE), crash)
                reason = "rendered"
            except BrowserFailed as exc:
                reason = str(exc)
            page = await pool.render("https://a.test/two", Fetched(200, HTML, PAGE), crash)
            return reason, page.html
        finally:
            await pool.close()

    reason, html = asyncio.run(scenario())
    assert reason.startswith("browser: ") and reason != "rendered"
    assert "hello" in html
