"""One citevault capture in this process, optionally without fsync, timed: a what-if that says
how much of a capture's wall time the per-record fsync costs. Run as
`python benchmarks/fsync_whatif.py URL [--no-fsync]` with CITEVAULT_HOME and http_proxy set;
prints {"wall": s, "cpu": s} as JSON."""

from __future__ import annotations

import functools
import json
import sys
import time


def main() -> None:
    url = sys.argv[1]
    from citevault.archive import Archive
    from citevault.config import load_settings
    from citevault.crawler import job
    from citevault.storage.warcstore import WarcStore

    if "--no-fsync" in sys.argv[2:]:
        setattr(job, "WarcStore", functools.partial(WarcStore, fsync=False))  # noqa: B010
    archive = Archive(load_settings())
    queued = archive.queue([url], depth=1, scope="all")
    options = archive.crawl_options()
    wall, cpu = time.perf_counter(), time.process_time()
    job.crawl(options, [q.seed for q in queued])
    json.dump({"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}, sys.stdout)


if __name__ == "__main__":
    main()
