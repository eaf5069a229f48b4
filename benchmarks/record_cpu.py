"""CPU of the capture flow alone (target 2's hot spots): `CaptureRecorder.record` of N synthetic
exchanges (a 24 KB page, a 32 KB image) into a temporary home, no network and no Scrapy, first
capture and unchanged recapture; `python -m benchmarks.record_cpu [N] [--profile]`."""

from __future__ import annotations

import cProfile
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["record_bench"]


def _exchanges(n: int) -> list[Any]:
    from citevault.crawler.recorder import Exchange

    text = ("<p>" + "lorem ipsum dolor sit amet " * 30 + "</p>\n") * 28
    out = []
    for i in range(n):
        if i % 2 == 0:
            body = f"<html><body><h1>page {i}</h1>{text}</body></html>".encode()
            ctype = "text/html; charset=utf-8"
        else:
            body = bytes((i * 7 + k * 13) % 251 for k in range(32_000))
            ctype = "image/png"
        out.append(Exchange(
            url=f"http://h{i % 20:02d}.bench.test/p/{i:06d}", method="GET",
            request_headers=[("User-Agent", "citevault"), ("Accept", "*/*")], status=200,
            response_headers=[("Content-Type", ctype), ("Content-Length", str(len(body)))], body=body,
        ))
    return out


def record_bench(n: int = 2000, profile: bool = False, log: Any = print) -> dict[str, Any]:
    """Seconds of CPU per record, first capture and recapture (the same exchanges again)."""
    from citevault.crawler.recorder import CaptureRecorder
    from citevault.storage.db import open_index
    from citevault.storage.models import Snapshot, Source, utcnow
    from citevault.storage.warcstore import WarcStore

    work = Path(tempfile.mkdtemp(prefix="cvbench-rec-"))
    out: dict[str, Any] = {"records": n}
    try:
        index = open_index(f"sqlite:///{work}/citevault.db")
        store = WarcStore(work / "warcs")
        with index.session() as s:
            src = Source(url="http://hub.bench.test/", surt="test,bench,hub)/", depth=1, scope="all",
                         created_at=utcnow())
            s.add(src)
            s.flush()
            snaps = [Snapshot(source_id=src.id, trigger="cli", queued_at=utcnow()) for _ in range(2)]
            s.add_all(snaps)
            s.flush()
            ids = [snap.id for snap in snaps]
        exchanges = _exchanges(n)
        prof = cProfile.Profile() if profile else None
        for label, sid in (("first", ids[0]), ("recapture", ids[1])):
            rec = CaptureRecorder(index, store, batch_size=64)
            t0 = time.process_time()
            if prof:
                prof.enable()
            for ex in exchanges:
                rec.record(sid, ex, role="cited")
            rec.commit()
            if prof:
                prof.disable()
            cpu = time.process_time() - t0
            out[label] = cpu / n
            log(f"  record {label}: {1000 * cpu / n:.3f} ms CPU per record ({n} records)")
        store.close()
        index.dispose()
        if prof:
            pstats.Stats(prof).sort_stats("cumulative").print_stats(35)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


if __name__ == "__main__":
    if __package__ in (None, ""):
        sys.exit("run as: python -m benchmarks.record_cpu [N] [--profile]")
    count = int(next((a for a in sys.argv[1:] if a.isdigit()), "2000"))
    record_bench(count, "--profile" in sys.argv)
