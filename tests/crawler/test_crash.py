"""kill -9 at random moments of a real capture (the crawl child, the `add` process, or both at
once, as a power cut would), a few bounded trials; then the next start recovers: no `.open`
file left, `verify` clean, `reindex` into an empty index gives the same captures, every snapshot
settled, no process left over."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from citevault.cli import get_app
from tests.crawler.proctree import crawl_children, descendants
from tests.fakeweb import FakeRequest, FakeWeb

PAGES = 30


def _alive(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def _captures(db: Path) -> set[tuple[str, int, str, str]]:
    with sqlite3.connect(db) as conn:
        return set(conn.execute(
            "SELECT warc, \"offset\", url, sha256 FROM captures WHERE warc IS NOT NULL "
            "AND record_type = 'response'"
        ))


def _site(web: FakeWeb, rng: random.Random) -> str:
    def page(i: int) -> object:
        def serve(req: FakeRequest) -> str:
            time.sleep(rng.uniform(0.0, 0.3))  # spread the fetches over the crawl
            return (f"<html><head><link rel=stylesheet href=/s{i}.css></head><body><p>page {i} "
                    + "text " * 200 + "</p></body></html>")
        return serve

    for i in range(PAGES):
        web.add(f"https://crash.example.test/p{i}", page(i))  # type: ignore[arg-type]
        web.add(f"https://crash.example.test/s{i}.css", "body{color:red}" * 100, content_type="text/css")
    links = " ".join(f'<a href="/p{i}">source {i} cited in this long paragraph</a>' for i in range(PAGES))
    web.add("https://crash.example.test/", f"<html><body><article><p>{links}</p></article></body></html>")
    web.add("https://after.example.test/", "<p>the next capture</p>")
    return "https://crash.example.test/"


@pytest.mark.slow
def test_kill_9_at_random_moments_then_recover(web: FakeWeb, home: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    seed = int(os.environ.get("CITEVAULT_CRASH_SEED", time.time()))
    rng = random.Random(seed)
    url = _site(web, rng)
    cli = Path(sys.executable).with_name("citevault")
    started: list[int] = []
    for trial in range(3):
        web.clear_requests()
        victim = ("child", "parent", "both")[trial]
        proc = subprocess.Popen([str(cli), "add", url, "--json"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=os.environ.copy())
        started.append(proc.pid)
        kill_after = rng.randint(1, PAGES)  # fetches seen before the kill
        deadline = time.monotonic() + 180
        while len(web.requests) < kill_after and proc.poll() is None:
            assert time.monotonic() < deadline, f"trial {trial} (seed {seed}): the crawl did not start"
            time.sleep(0.02)
        crawl, children = crawl_children(proc.pid), descendants(proc.pid)
        started += children
        # "both": a power cut takes the whole tree (the fork server too, where there is one).
        targets = {"child": crawl, "parent": [proc.pid], "both": [proc.pid, *children]}[victim]
        for pid in targets:
            os.kill(pid, signal.SIGKILL)
        proc.wait(60)
        deadline = time.monotonic() + 60
        while any(_alive(p) for p in children):  # a child outliving its parent stops by itself
            assert time.monotonic() < deadline, f"trial {trial} (seed {seed}): the crawl child lives on"
            time.sleep(0.05)
    # The next start: a capture of something else recovers what the crashes left.
    after = CliRunner().invoke(get_app(), ["add", "https://after.example.test/", "--depth", "0"])
    assert after.exit_code == 0, after.output
    warcs = home / "warcs"
    assert not list(warcs.glob("*.open")), f"seed {seed}"
    check = CliRunner().invoke(get_app(), ["verify", "--json"])
    assert check.exit_code == 0 and json.loads(check.stdout)["ok"], (seed, check.output)
    with sqlite3.connect(home / "citevault.db") as db:
        states = [s for (s,) in db.execute("SELECT state FROM snapshots ORDER BY id")]
    assert len(states) == 4 and "running" not in states and "queued" not in states, (seed, states)
    assert states[-1] == "done"
    # Reindex into an empty index: every capture the crashed runs committed comes back.
    rebuilt = tmp_path / "rebuilt.db"
    monkeypatch.setenv("CITEVAULT_WARC_DIR", str(warcs))
    monkeypatch.setenv("CITEVAULT_DATABASE_URL", f"sqlite:///{rebuilt}")
    assert CliRunner().invoke(get_app(), ["reindex"]).exit_code == 0
    before, after = _captures(home / "citevault.db"), _captures(rebuilt)
    assert before <= after, (seed, len(before), len(after))  # records not yet indexed come back too
    assert not [p for p in started if _alive(p)], f"seed {seed}: processes left over"
