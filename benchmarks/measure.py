"""Measuring one command (wall time, CPU of its whole process tree, peak memory) and summarising
rounds (median with min/max, percentiles, ratios pair by pair)."""

from __future__ import annotations

import os
import statistics
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Run", "Summary", "percentile", "run_measured", "summarize", "tree_rss"]


@dataclass
class Run:
    """One finished command."""

    wall: float  # seconds
    cpu: float  # user + system seconds of the command and every descendant it waited for
    # The kernel's peak RSS of the largest single process in the tree: the highest VmHWM (each
    # process's own high-water mark, never below what it held at a sample) read while sampling.
    # Not wait4's ru_maxrss: Linux keeps a process's peak across exec, so that one includes the
    # benchmark's own RSS at the fork (3.6 GB after the index part's 10M rows).
    maxrss_mb: float
    tree_peak_mb: float  # sampled peak of the summed RSS of the whole tree
    child_peak_mb: float  # sampled peak RSS of the largest descendant (e.g. the crawl process)
    returncode: int
    stdout: str
    stderr: str
    timeline: list[tuple[float, float]] = field(default_factory=list)  # (s, largest descendant MB)
    # Sampled peak RSS per process name (/proc/PID/comm: the fork server names its children
    # citevault-forks, citevault-job, citevault-pageindex), and of the tree's summed PSS
    # (shared pages split among their users: forked processes share their parent's pages).
    by_name_mb: dict[str, float] = field(default_factory=dict)
    tree_pss_mb: float = 0.0


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
            out += [int(p) for p in text.split()]
    except OSError:
        pass
    return out


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def _proc_kb(pid: int, name: str, key: str) -> int:
    """The kB figure on line `key` of /proc/PID/`name`, in bytes (0 when unreadable)."""
    try:
        for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return 0


def _pss(pid: int) -> int:
    """Proportional set size in bytes (0 when unreadable)."""
    return _proc_kb(pid, "smaps_rollup", "Pss:")


def _hwm(pid: int) -> int:
    """The kernel's high-water mark of a process's RSS since its last exec, in bytes (0 when
    unreadable)."""
    return _proc_kb(pid, "status", "VmHWM:")


def tree_rss(pid: int) -> dict[int, int]:
    """Resident set of a process and each of its descendants, in bytes (Linux /proc)."""
    out: dict[int, int] = {}
    todo = [pid]
    page = os.sysconf("SC_PAGE_SIZE")
    while todo:
        p = todo.pop()
        try:
            out[p] = int(Path(f"/proc/{p}/statm").read_text().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
        todo += _children(p)
    return out


def run_measured(
    cmd: Sequence[str], *, env: dict[str, str] | None = None, cwd: str | Path | None = None,
    timeout: float = 3600.0, sample_every: float = 0.05, pss_every: int = 10,
) -> Run:
    """Run `cmd` to completion; CPU comes from wait4() (the kernel's accounting of the child plus
    the descendants it reaped), the peaks from sampling /proc every `sample_every` seconds (a
    process's high-water mark at each sample: only what it grows to after its last is missed)."""
    out_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-{os.getpid()}-{time.monotonic_ns()}"
    with open(f"{out_path}.out", "w+b") as out, open(f"{out_path}.err", "w+b") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(cmd), env=env, cwd=cwd, stdout=out, stderr=err)
        peak = child_peak = pss_peak = hwm_peak = 0
        timeline: list[tuple[float, float]] = []
        by_name: dict[str, int] = {}
        done = threading.Event()

        def sample() -> None:
            nonlocal peak, child_peak, pss_peak, hwm_peak
            n = 0
            while not done.is_set():
                sizes = tree_rss(proc.pid)
                child = max((v for k, v in sizes.items() if k != proc.pid), default=0)
                peak = max(peak, sum(sizes.values()))
                child_peak = max(child_peak, child)
                for pid, rss in sizes.items():
                    name = _comm(pid)
                    by_name[name] = max(by_name.get(name, 0), rss)
                    hwm_peak = max(hwm_peak, _hwm(pid))
                if n % pss_every == 0:  # smaps_rollup walks every mapping: not every sample
                    pss_peak = max(pss_peak, sum(_pss(pid) for pid in sizes))
                n += 1
                timeline.append((time.perf_counter() - start, child / 2**20))
                done.wait(sample_every)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        deadline = start + timeout
        status, usage = 0, None
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.01)
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    for suffix in (".out", ".err"):
        Path(f"{out_path}{suffix}").unlink(missing_ok=True)
    assert usage is not None
    return Run(
        wall=wall, cpu=usage.ru_utime + usage.ru_stime, maxrss_mb=hwm_peak / 2**20,
        tree_peak_mb=peak / 2**20, child_peak_mb=child_peak / 2**20, returncode=proc.returncode,
        stdout=stdout, stderr=stderr, timeline=timeline[:: max(1, len(timeline) // 300)],
        by_name_mb={k: v / 2**20 for k, v in sorted(by_name.items())}, tree_pss_mb=pss_peak / 2**20,
    )


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), nearest-rank on sorted values."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(q / 100 * (len(s) - 1))))
    return s[k]


@dataclass(frozen=True)
class Summary:
    median: float
    low: float
    high: float
    n: int

    def scaled(self, k: float) -> Summary:
        return Summary(self.median * k, self.low * k, self.high * k, self.n)

    def fmt(self, spec: str = ".2f", unit: str = "") -> str:
        if self.n == 0:
            return "not run"
        if self.n == 1:
            return f"{self.median:{spec}}{unit}"
        return f"{self.median:{spec}}{unit} ({self.low:{spec}}-{self.high:{spec}})"


def summarize(values: Sequence[float]) -> Summary:
    vals = [v for v in values if v == v]  # drop NaN
    if not vals:
        return Summary(float("nan"), float("nan"), float("nan"), 0)
    return Summary(statistics.median(vals), min(vals), max(vals), len(vals))
