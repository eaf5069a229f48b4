"""The processes a capture runs in, seen from outside: the crawl child is a child of `add`, or
a grandchild forked by its fork server (crawler/forkserver.py), named `citevault-job` there (the
server forks the crawl's page indexer too, `citevault-pageindex`)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    todo = [pid]
    while todo:
        kids = children(todo.pop())
        found += kids
        todo += kids
    return found


def _is_fork_server(pid: int) -> bool:
    """Started as `python -m citevault.crawler.forkserver`, or forked from `add` and named so."""
    try:
        return (b"citevault.crawler.forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes()
                or Path(f"/proc/{pid}/comm").read_text().strip() == "citevault-forks")
    except OSError:
        return False


def is_crawl(pid: int) -> bool:
    """A crawl child: forked (by its name) or started as `python -m citevault.crawler.job`."""
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        return comm == "citevault-job" or b"-m\0citevault.crawler.job" in cmdline
    except OSError:
        return False


def crawl_children(pid: int) -> list[int]:
    """The crawl processes under `pid` (not the fork server that forked them)."""
    found: list[int] = []
    for child in children(pid):
        found += [c for c in children(child) if is_crawl(c)] if _is_fork_server(child) else [child]
    return found
