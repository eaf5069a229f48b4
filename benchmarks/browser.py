"""Browser capture throughput and memory: `python benchmarks/browser.py [--pages N]`.

Captures N script-shell pages (the tests' modern article: JSON API, script-inserted and lazy
images, a widgets script, an ad iframe) with `citevault add --depth 0` under the default
`CITEVAULT_BROWSER=auto` and 2 browser pages at a time, and reports browser pages per minute and
the peak RSS of the whole process tree (CLI, crawl process, Playwright driver, Chromium). Then N
plain HTML pages with the browser on `auto` and `never`, to show the HTTP path loses nothing.
The numbers include Chromium's start-up once per job. The machine is shared (2 cores, other
developers' jobs running): read them as an order of magnitude, not a benchmark farm's figure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: import as the `benchmarks` package
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from benchmarks.measure import Run, run_measured, tree_rss  # noqa: E402
from tests.fakeweb import FakeWeb  # noqa: E402
from tests.sites.modern import add_copies, build_modern_site  # noqa: E402

_BIN = Path(sys.executable).parent
__all__ = ["browser_bench"]


def _tree_pss(root: int) -> tuple[float, int]:
    """Proportional set size of a process tree in MB (shared pages split among their users, so
    Chromium's processes are not counted many times over as summed RSS does), and its size."""
    total = 0
    pids = list(tree_rss(root))
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return total / 1024, len(pids)


class _PssSampler(threading.Thread):
    """Samples the tree PSS of every `citevault` process this benchmark started."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_mb = 0.0
        self.peak_procs = 0
        self.stop = threading.Event()

    def run(self) -> None:
        me = os.getpid()
        while not self.stop.wait(0.25):
            for child in tree_rss(me):
                if child != me:
                    mb, n = _tree_pss(child)
                    if mb > self.peak_mb:
                        self.peak_mb, self.peak_procs = mb, n
                    break


def _add(fw: FakeWeb, home: Path, urls: list[str], browser: str) -> tuple[Run, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CITEVAULT_") and k.lower() not in ("http_proxy", "https_proxy")}
    env.update(fw.proxy_env())
    env.update({"CITEVAULT_HOME": str(home), "CITEVAULT_ALLOW_PRIVATE_NETWORKS": "1",
                "CITEVAULT_BROWSER": browser, "CITEVAULT_BROWSER_POOL": "2"})
    listing = home.parent / f"{home.name}.txt"
    listing.write_text("\n".join(urls) + "\n")
    sampler = _PssSampler()
    sampler.start()
    run = run_measured([str(_BIN / "citevault"), "add", "--depth", "0", "--from-file", str(listing),
                        "--json"], env=env)
    sampler.stop.set()
    sampler.join()
    if run.returncode not in (0, 1):
        raise RuntimeError(f"citevault add failed ({run.returncode}): {run.stderr[-2000:]}")
    doc = json.loads(run.stdout)
    caps = [c for s in doc["sources"] for c in s["snapshot"]["captures"]]
    return run, {
        "pages": len(urls),
        "browser_pages": sum(1 for c in caps if c["url"].startswith("urn:view:") and not c["error"]),
        "records": sum(1 for c in caps if c["warc"]),
        "failed": sum(1 for c in caps if c["error"]),
        "tree_peak_pss_mb": sampler.peak_mb,
    }


def browser_bench(pages: int, log: Any = print) -> dict[str, Any]:
    """The three runs of the module docstring, one row each; Chromium must be installed."""
    if not Path("/usr/bin/chromium").exists():
        raise RuntimeError("/usr/bin/chromium is missing (the browser path needs it)")
    rows = []
    with FakeWeb() as fw, tempfile.TemporaryDirectory(prefix="cv-bench-browser-") as tmp:
        build_modern_site(fw)
        shells = add_copies(fw, pages, shell=True)
        plain = add_copies(fw, pages, shell=False)
        for name, urls, mode in (("browser pages (auto)", shells, "auto"),
                                 ("plain pages, browser auto", plain, "auto"),
                                 ("plain pages, browser never", plain, "never")):
            run, info = _add(fw, Path(tmp) / name.replace(" ", "-").replace(",", ""), urls, mode)
            row = info | {"name": name, "wall": run.wall, "cpu": run.cpu,
                          "pages_per_min": info["pages"] / run.wall * 60,
                          "tree_peak_rss_mb": run.tree_peak_mb}
            rows.append(row)
            log(f"{name}: {info['pages']} pages in {run.wall:.1f}s = {row['pages_per_min']:.0f}"
                f" pages/min; browser-rendered {info['browser_pages']}; records {info['records']}; "
                f"failed {info['failed']}; tree peak RSS {run.tree_peak_mb:.0f} MB (summed), "
                f"PSS {info['tree_peak_pss_mb']:.0f} MB; CPU {run.cpu:.1f}s")
    return {"pages": pages, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=40, help="pages per run (default 40)")
    args = parser.parse_args()
    browser_bench(args.pages, lambda line: print(line, flush=True))


if __name__ == "__main__":
    main()
