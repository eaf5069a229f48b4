"""A crawl child dies with the process that started it, and never reports `done` for work it
did not do."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from citevault.cli import get_app
from tests.crawler.proctree import crawl_children, descendants
from tests.fakeweb import FakeWeb


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "zombie" not in status


def wait_for(condition: object, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_crawl_child_dies_with_its_parent_and_does_not_say_done(web: FakeWeb, home: Path) -> None:
    web.add("https://orphan.example.test/", '<article><p>Read <a href="/slow">the slow one</a> and '
            '<a href="/fast">the fast one</a>, both cited in this long paragraph.</p></article>')
    web.add("https://orphan.example.test/fast", "<p>fast</p>")
    web.add("https://orphan.example.test/slow", "<p>slow</p>", delay=60.0)
    cli = Path(sys.executable).with_name("citevault")
    proc = subprocess.Popen([str(cli), "add", "https://orphan.example.test/", "--json"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    children: list[int] = []
    try:
        wait_for(lambda: web.hits("https://orphan.example.test/slow") > 0, "the slow page's request")
        assert crawl_children(proc.pid), "add runs its crawl in a child process"
        children = descendants(proc.pid)  # the crawl child and the fork server, if any
        proc.send_signal(signal.SIGKILL)  # no chance to clean up: the child must notice itself
        proc.wait(30)
        # It stops well before the slow page would answer (60 s).
        wait_for(lambda: not any(_alive(c) for c in children), "the orphaned crawl to stop", 45.0)
    finally:
        for pid in [proc.pid, *children]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    snap = json.loads(CliRunner().invoke(get_app(), ["show", "1", "--json"]).stdout)["snapshots"][0]
    assert snap["state"] == "partial" and snap["error"].startswith("interrupted"), snap
    assert "https://orphan.example.test/slow" not in {c["url"] for c in snap["captures"] if c["warc"]}
    assert not list((home / "warcs").glob("*.open"))  # it closed its WARC file on the way out
