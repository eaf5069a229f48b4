"""Start-up cost (target 1): CPU of a one-page `citevault add` against a one-page plain Scrapy run,
plus `citevault --help` (the CLI alone), and optionally instruction counts under callgrind, which
machine load does not distort."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from .capture import _BIN, HERE, _citevault_add, _scrapy_floor, _scratch, compile_citevault
from .measure import run_measured, summarize
from .webfarm import SiteSpec, WebFarm

__all__ = ["callgrind_instructions", "command_instructions", "startup_bench"]

VALGRIND = "/usr/bin/valgrind"


# valgrind 3.19 (Debian 12's) does not know pidfd_open (ENOSYS), which `add`'s fork server needs:
# under it, `add` failed at the fork and only its imports were counted. Measured runs get this
# stand-in: a descriptor that is always readable (the handles then wait in waitpid, as they
# do for an ended process) and no signals by pidfd (a one-page run sends none).
_PIDFD_SHIM = """import os, signal
def _pidfd_open(pid, flags=0):
    return os.open(os.devnull, os.O_RDONLY)
def _pidfd_send_signal(fd, sig, siginfo=None, flags=0):
    raise ProcessLookupError
os.pidfd_open = _pidfd_open
signal.pidfd_send_signal = _pidfd_send_signal
"""


def callgrind_instructions(cmd: list[str], env: dict[str, str] | None = None) -> int | None:
    """Instructions executed by `cmd` and its children (callgrind's Ir), or None when valgrind is
    missing. Slow (about 50x), so only for short commands.

    A forked child starts with a copy of its parent's counters, so each process's "Collected"
    includes what its parent ran before the fork (`add`'s fork server and its crawl children:
    summing those counted the CLI's imports three times). `--dump-before=fork` writes the
    counters out and zeroes them before each fork; the sum of every dump is then the tree's."""
    if not Path(VALGRIND).exists():
        return None
    work = _scratch("cg")
    try:
        (work / "shim").mkdir()
        (work / "shim" / "sitecustomize.py").write_text(_PIDFD_SHIM)
        env = dict(env if env is not None else os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(work / "shim"), env.get("PYTHONPATH")) if p)
        out = subprocess.run(
            [VALGRIND, "--tool=callgrind", "--trace-children=yes", "--dump-before=fork",
             f"--callgrind-out-file={work}/cg.%p", *cmd],
            capture_output=True, text=True, env=env, timeout=1800,
        )
        if out.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed under callgrind ({out.returncode}): {out.stderr[-2000:]}")
        total = 0
        for dump in work.glob("cg.*"):
            with dump.open() as f:
                total += next((int(ln.split()[1]) for ln in f if ln.startswith("totals:")), 0)
        return total or None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def startup_bench(
    spec: SiteSpec, rounds: int, log: Any = print, *, instructions: bool = False
) -> dict[str, Any]:
    """CPU seconds (whole process tree) of one-page runs, alternating citevault and Scrapy."""
    compile_citevault()
    spec = replace(spec, delay=0.0)
    seed = spec.page_url(0)
    tiny_urls = [seed, *spec.page_requisites(0), f"http://{spec.host(0)}/static/bg.png"]
    cpu: dict[str, list[float]] = {"citevault": [], "scrapy": [], "help": [], "second": []}
    with WebFarm(spec) as web:
        for r in range(rounds):
            for name in (("citevault", "scrapy") if r % 2 == 0 else ("scrapy", "citevault")):
                work = _scratch("start")
                try:
                    if name == "citevault":
                        run, _ = _citevault_add(work / "home", web, "--depth", "0", seed)
                        # A second run on the same home: the schema is current, no migration.
                        again, _ = _citevault_add(work / "home", web, "--depth", "0", seed)
                        cpu["second"].append(again.cpu)
                    else:
                        run, _ = _scrapy_floor(work, web, tiny_urls)
                finally:
                    shutil.rmtree(work, ignore_errors=True)
                cpu[name].append(run.cpu)
            cpu["help"].append(run_measured([str(_BIN / "citevault"), "--help"]).cpu)
            log(f"  startup round {r + 1}: citevault {cpu['citevault'][-1]:.2f} s "
                f"(again {cpu['second'][-1]:.2f} s), scrapy {cpu['scrapy'][-1]:.2f} s, "
                f"--help {cpu['help'][-1]:.2f} s CPU")
        out: dict[str, Any] = {k: summarize(v) for k, v in cpu.items()}
        out["ratio"] = summarize([a / b for a, b in zip(cpu["second"], cpu["scrapy"], strict=True)])
        out["rounds"] = rounds
        if instructions:
            from .capture import citevault_env

            work = _scratch("startcg")
            try:
                env = citevault_env(work / "home", web.proxy_url)
                _citevault_add(work / "home", web, "--depth", "0", seed)  # migrated: the usual case
                out["ir_citevault"] = callgrind_instructions(
                    [str(_BIN / "citevault"), "add", "--depth", "0", seed, "--json"], env)
                (work / "urls.txt").write_text("\n".join(tiny_urls) + "\n")
                out["ir_scrapy"] = callgrind_instructions(
                    [sys.executable, str(HERE / "scrapy_floor.py"), str(work / "urls.txt"), "32", "4"],
                    env | {"http_proxy": web.proxy_url})
            finally:
                shutil.rmtree(work, ignore_errors=True)
            log(f"  startup instructions: citevault {out['ir_citevault']}, scrapy {out['ir_scrapy']}")
    return out


def command_instructions(spec: SiteSpec, log: Any = print) -> dict[str, int | None]:
    """Instructions (callgrind) of each command whose start-up issue 15 follows: `--help`, the
    read commands `list` and `history` on a home with one source, and a one-page `add` with and
    without --json, on a home whose schema is current. Load-proof, unlike the CPU seconds."""
    from .capture import citevault_env

    compile_citevault()
    spec = replace(spec, delay=0.0)
    seed = spec.page_url(0)
    cv = str(_BIN / "citevault")
    commands = {
        "--help": [cv, "--help"],
        "list --json": [cv, "list", "--json"],
        "list": [cv, "list"],
        "history --json": [cv, "history", seed, "--json"],
        "add --json": [cv, "add", "--depth", "0", seed, "--json"],
        "add": [cv, "add", "--depth", "0", seed],
    }
    out: dict[str, int | None] = {}
    with WebFarm(spec) as web:
        work = _scratch("startcmd")
        try:
            env = citevault_env(work / "home", web.proxy_url)
            _citevault_add(work / "home", web, "--depth", "0", seed)  # migrated, one source
            for name, cmd in commands.items():
                out[name] = callgrind_instructions(cmd, env)
                log(f"  {name}: {out[name]} instructions")
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return out


if __name__ == "__main__":
    if __package__ in (None, ""):
        sys.exit("run as: python -m benchmarks.startup [ROUNDS] [--instructions | --commands]")
    if "--commands" in sys.argv:
        command_instructions(SiteSpec(pages=20))
        sys.exit(0)
    n = int(next((a for a in sys.argv[1:] if a.isdigit()), "3"))
    res = startup_bench(SiteSpec(pages=20), n, instructions="--instructions" in sys.argv)
    for key, value in res.items():
        print(key, value.fmt() if hasattr(value, "fmt") else value)
