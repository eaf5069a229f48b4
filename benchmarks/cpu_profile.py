"""Where a CPU-bound capture's time goes: py-spy samples of the real `citevault add` (parent and
crawl child), summed per function; and a what-if run without the per-record fsync."""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from .capture import HERE, ROOT, _scratch, citevault_env
from .measure import run_measured
from .webfarm import SiteSpec, WebFarm

__all__ = ["profile_bench", "pyspy_missing"]

_BIN = Path(sys.executable).parent
_OWN = ("crawler/", "storage/", "citevault/")
_LINE = re.compile(r":\d+\)$")


def pyspy_missing() -> str | None:
    if not (_BIN / "py-spy").exists():
        return "py-spy is missing: `.venv/bin/pip install -e '.[bench]'` installs it"
    return None


def _fsync_lines() -> set[int]:
    src = (ROOT / "storage" / "warcstore.py").read_text().splitlines()
    return {n for n, line in enumerate(src, 1) if "os.fsync(" in line}


# Each sample goes to the innermost frame that belongs to one of these (first match wins).
_LIBS = (
    ("index writes and reads (SQLAlchemy, sqlite3)", ("sqlalchemy/",)),
    ("WARC records (warcio: building, digests, gzip)", ("warcio/",)),
    ("link extraction (lxml, crawler/links.py)", ("lxml/", "crawler/links.py")),
    ("citevault's own code (crawler/, storage/)", ("crawler/", "storage/")),
    ("Scrapy, Twisted, asyncio (the floor's share too)", ("scrapy/", "twisted/", "asyncio/")),
)


def _aggregate(raw: Path) -> dict[str, Any]:
    """Collapsed stacks -> shares of the crawl's samples (start-up imports excluded): self time per
    function, inclusive time per own function and per library, and fsync."""
    self_t: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    libs: Counter[str] = Counter()
    total = crawl = fsync = imports = 0
    fsync_lines = _fsync_lines()
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = [f for f in stack.split(";") if not f.startswith("process ")]
        if not frames:
            continue
        total += n
        if any(f.startswith("_find_and_load ") for f in frames):
            imports += n
            continue
        if not any(f.startswith("crawl (") for f in frames):
            continue
        crawl += n
        leaf = frames[-1]
        if "(storage/warcstore.py:" in leaf and int(leaf.rsplit(":", 1)[1][:-1]) in fsync_lines:
            fsync += n
        self_t[_LINE.sub(")", leaf)] += n
        for f in {_LINE.sub(")", f) for f in frames}:
            if any(f"({p}" in f for p in _OWN):
                incl[f] += n
        if "(storage/warcstore.py:" in leaf and int(leaf.rsplit(":", 1)[1][:-1]) in fsync_lines:
            libs["fsync (storage/warcstore.py)"] += n
            continue
        for f in reversed(frames):
            lib = next((name for name, prefixes in _LIBS if any(f"({p}" in f for p in prefixes)), None)
            if lib is not None:
                libs[lib] += n
                break
        else:
            libs["other"] += n

    def share(c: int) -> float:
        return c / crawl if crawl else 0.0

    return {
        "samples": total,
        "crawl_samples": crawl,
        "fsync_share": share(fsync),
        "import_share": imports / total if total else 0.0,
        "libraries": [(k, share(v)) for k, v in libs.most_common()],
        "self": [(k, share(v)) for k, v in self_t.most_common(15)],
        "inclusive": [(k, share(v)) for k, v in incl.most_common(25)],
    }


def profile_bench(spec: SiteSpec, log: Any = print) -> dict[str, Any]:
    spec = replace(spec, delay=0.0)
    out: dict[str, Any] = {"spec": spec, "pyspy_missing": pyspy_missing()}
    with WebFarm(spec) as web:
        if out["pyspy_missing"] is None:
            work = _scratch("prof")
            try:
                raw = work / "pyspy.txt"
                run = run_measured(
                    [str(_BIN / "py-spy"), "record", "--subprocesses", "--nonblocking", "-r", "200",
                     "-f", "raw", "-o", str(raw), "--", str(_BIN / "citevault"), "add", "--scope", "all",
                     spec.hub_url],
                    env=citevault_env(work / "home", web.proxy_url),
                )
                if raw.exists():
                    out["pyspy"] = _aggregate(raw)
                else:
                    why = f"exit {run.returncode}: {run.stderr[-300:]}"
                    out["pyspy_missing"] = f"py-spy wrote nothing ({why})"
            finally:
                shutil.rmtree(work, ignore_errors=True)
        for label, flags in (("fsync", []), ("no_fsync", ["--no-fsync"])):
            work = _scratch("whatif")
            try:
                run = run_measured(
                    [sys.executable, str(HERE / "fsync_whatif.py"), spec.hub_url, *flags],
                    env=citevault_env(work / "home", web.proxy_url),
                )
                out[label] = json.loads(run.stdout) if run.returncode == 0 else {"error": run.stderr[-500:]}
            finally:
                shutil.rmtree(work, ignore_errors=True)
    if "pyspy" in out:
        p = out["pyspy"]
        log(f"  profile: {p['samples']} samples, fsync {100 * p['fsync_share']:.0f}%, "
            f"imports {100 * p['import_share']:.0f}%")
    log(f"  what-if: crawl wall {out['fsync'].get('wall', float('nan')):.1f} s with fsync, "
        f"{out['no_fsync'].get('wall', float('nan')):.1f} s without")
    return out
