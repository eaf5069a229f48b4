"""CPU cost of replay's script rewriting (jsrewrite.py, issue 10): the 650 KB axe-core bundle and
an 8 MB script (that bundle 13 times) through `rewrite_script`, and a 6.3 MB page of 216,000
elements through the HTML rewriter, plain and with an `onclick` naming the window on every link.

    .venv/bin/python -m benchmarks.jsrewrite_cost [--runs 5]

CPU time (user + system, getrusage of this process), min and median of the runs; say the load
(`uptime`) with the numbers. To compare with another version of the code, run this file with that
version's src first on PYTHONPATH."""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
from collections.abc import Callable
from pathlib import Path

__all__ = ["main"]

AXE = Path(__file__).resolve().parent.parent / "tests" / "web" / "vendor" / "axe.min.js"


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _page(handlers: bool) -> bytes:
    onclick = ' onclick="window.track && window.track(this)"' if handlers else ""
    link = '<li><a href="/article/%07d.html"%s>Article number %07d, with a longer title</a></li>\n'
    items = "".join(link % (i, onclick, i) for i in range(72_000))  # 216,000 elements with the text
    return f"<!DOCTYPE html><html><body><ul>\n{items}</ul></body></html>".encode()


def _measure(work: Callable[[], object], runs: int) -> dict[str, float]:
    times = []
    for _ in range(runs):
        start = _cpu()
        work()
        times.append(_cpu() - start)
    return {"min_s": round(min(times), 3), "median_s": round(statistics.median(times), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from citevault.jsrewrite import rewrite_script
    from citevault.replay import Rewriter

    axe = AXE.read_text()
    big = axe * 13
    plain, handlers = _page(False), _page(True)
    rw = Rewriter("/web/", "20261103120000", "https://big.test/")
    out = {
        "load": os.getloadavg(),
        "axe_650KB": _measure(lambda: rewrite_script(axe), args.runs),
        "script_8MB": _measure(lambda: rewrite_script(big), args.runs),
        "page_7MB": _measure(lambda: rw.html(plain, "utf-8", None), args.runs),
        "page_7MB_onclick": _measure(lambda: rw.html(handlers, "utf-8", None), args.runs),
        "sizes_MB": [round(len(x) / 2**20, 2) for x in (axe.encode(), big.encode(), plain, handlers)],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
