"""Replay of one huge page (issue 10): time and peak memory of `render_memento` for an N MB page of
links, with the rewrite limit (served raw) and without it (rewritten by lxml, as before).

    .venv/bin/python -m benchmarks.bigpage --mb 32

Each replay runs in its own process so that its peak RSS (ru_maxrss) is its own."""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

from warcio.statusandheaders import StatusAndHeaders

__all__ = ["main"]


def _page(mb: int) -> bytes:
    link = b'<li><a href="/article/%07d.html">Article number %07d</a></li>\n'
    n = mb * 1024 * 1024 // len(link % (0, 0))
    items = b"".join(link % (i, i) for i in range(n))
    return b"<!DOCTYPE html><html><body><ul>\n" + items + b"</ul></body></html>"


def _one(mb: int, limited: bool) -> dict[str, float]:
    from citevault import replay
    from citevault.storage.models import Capture
    from citevault.storage.warcreader import ArchivedPayload

    body = _page(mb)
    if not limited:
        replay.REWRITE_LIMIT = len(body) + 1  # the behaviour before the limit: always rewrite
    head = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
    cap = Capture(url="https://big.test/", surt="test,big)/", timestamp="20261103120000", mime="text/html")
    rec = ArchivedPayload("response", cap.url, "2026-11-03T12:00:00Z", head, body, StatusAndHeaders("", []))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    out = replay.render_memento(cap, rec, modifier="", prefix="/web/", navigation=True)
    took = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": round(took, 2), "peak_mb": round(peak / 1024, 1),
            "added_mb": round((peak - base) / 1024, 1), "out_mb": round(len(out.body) / 2**20, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=32)
    ap.add_argument("--child", choices=["limited", "unlimited"])
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_one(args.mb, args.child == "limited")))
        return
    for mode in ("limited", "unlimited"):
        cmd = [sys.executable, "-m", "benchmarks.bigpage", "--mb", str(args.mb), "--child", mode]
        got = subprocess.run(cmd, capture_output=True, text=True, check=True)
        print(f"{args.mb} MB page, {mode:9s}: {got.stdout.strip()}")


if __name__ == "__main__":
    main()
