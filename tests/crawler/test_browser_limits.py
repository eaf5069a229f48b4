"""Browser capture under trouble: a hung page fails with a reason and the crawl goes on, the
network policy holds for what page scripts ask for, and no Chromium outlives its job (kill -9)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.crawler.conftest import add_json
from tests.crawler.proctree import is_crawl
from tests.fakeweb import FakeWeb
from tests.sites.modern import ModernSite, add_hanging_page, add_metadata_probe

pytestmark = pytest.mark.slow


def test_hung_page_fails_with_a_reason_and_the_crawl_goes_on(
    modern: ModernSite, web: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITEVAULT_BROWSER_BUDGET", "4")
    url = add_hanging_page(web, modern.cited[0])
    snap = add_json(url, codes=(0, 1))["sources"][0]["snapshot"]
    caps = {c["url"]: c for c in snap["captures"]}
    assert caps[url]["status"] == 200  # archived as the server sent it
    assert "budget of 4s" in caps[f"urn:view:{url}"]["error"]
    assert caps[modern.cited[0]]["status"] == 200 and caps[modern.cited[0]]["role"] == "cited"
    assert snap["state"] == "partial"


def test_page_scripts_cannot_reach_private_addresses(
    modern: ModernSite, web: FakeWeb, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fake web is the operator's proxy (a trusted hop); IP literals are still checked.
    monkeypatch.setenv("CITEVAULT_ALLOW_PRIVATE_NETWORKS", "0")
    url = add_metadata_probe(web)
    caps = {c["url"]: c for c in add_json(url, codes=(0, 1))["sources"][0]["snapshot"]["captures"]}
    probe = caps["http://169.254.169.254/latest/meta-data/"]
    assert probe["status"] is None and "cloud metadata" in probe["error"] and probe["via"] == "browser"
    assert not [r for r in web.requests if "169.254.169.254" in r.url]


def _procs() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        out[int(entry)] = (int(stat[stat.rindex(")") + 2:].split()[1]), cmd)
    return out


def _descendants(root: int) -> dict[int, str]:
    """The processes under `root` (Playwright starts Chromium in a session of its own, so
    sessions do not tell; ancestry does)."""
    procs = _procs()
    found: dict[int, str] = {}
    todo = [root]
    while todo:
        parent = todo.pop()
        for pid, (ppid, cmd) in procs.items():
            if ppid == parent and pid not in found:
                found[pid] = cmd
                todo.append(pid)
    return found


def _crawl_child(add: int) -> int | None:
    """The crawl child of `add`: its own child, or forked by its fork server (forkserver.py)."""
    return next((pid for pid in _descendants(add) if is_crawl(pid)), None)


def _wait(cond: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_no_chromium_outlives_a_killed_job(modern: ModernSite, web: FakeWeb, home: Path) -> None:
    url = add_hanging_page(web, modern.cited[0])
    env = {**os.environ, "CITEVAULT_BROWSER_BUDGET": "120"}
    cli = str(Path(sys.executable).with_name("citevault"))
    add = subprocess.Popen([cli, "add", url], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        job = _wait(lambda: _crawl_child(add.pid), 60, "the capture job to start")
        _wait(lambda: any("chromium" in c for c in _descendants(job).values()), 90,
              "Chromium to start in the job")
        tree = _descendants(job)
        os.kill(job, signal.SIGKILL)
        _wait(lambda: not set(tree) & set(_procs()), 30,
              "every process of the killed job (driver, Chromium) to exit")
    finally:
        add.kill()
        add.wait()
