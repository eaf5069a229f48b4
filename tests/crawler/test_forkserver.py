"""The crawl fork server: children forked in sessions of their own, exit codes and signals passed
back, nothing outliving the caller; and a real `citevault add` crawls in a forked child."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from citevault.crawler import forkserver, preload
from tests.fakeweb import FakeRequest, FakeWeb

pytestmark = pytest.mark.skipif(not forkserver.available(), reason="no fork server on this platform")

ENTRY = "tests.crawler.test_forkserver:echo_entry"


def echo_entry(parent: int) -> None:
    """Run in a forked child: report where it runs, then do what the job line asks."""
    job = json.loads(sys.stdin.readline())
    print(json.dumps({"pid": os.getpid(), "ppid": os.getppid(), "parent": parent, "sid": os.getsid(0),
                      "reactor": "twisted.internet.reactor" in sys.modules,
                      "scrapy": "scrapy.crawler" in sys.modules,
                      "drivers": [m for m in ("psycopg", "sqlite3") if m in sys.modules],
                      "stoplists": _stoplists(), "versions": _versions_found()}), flush=True)
    if job.get("wait_for_eof"):
        while os.read(0, 1024):
            pass
    sys.exit(job.get("exit", 0))


def _stoplists() -> list[bool]:
    """Whether trafilatura's all-languages stop list and justext's frozenset of it are built."""
    external, core = sys.modules.get("trafilatura.external"), sys.modules.get("justext.core")
    return [external is not None and external.JT_STOPLIST is not None,
            core is not None and core.define_stoplist.cache_info().currsize > 0]


def _versions_found() -> bool:
    """Whether the provenance record's software versions were looked up in this process."""
    seal = sys.modules.get("citevault.crawler.seal")
    return seal is not None and seal._versions.cache_info().currsize > 0


def failing_warm_up() -> None:
    raise RuntimeError("a warm-up that fails")


def _alive(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def _wait_for(condition: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


_started: list[forkserver.ForkedChild] = []


@pytest.fixture
def server() -> Iterator[forkserver.ForkServer]:
    s = forkserver.ForkServer(preload=("scrapy.crawler",))
    yield s
    _stop(s)


@pytest.fixture
def db_server() -> Iterator[forkserver.ForkServer]:
    s = forkserver.ForkServer(
        preload=("sqlalchemy.dialects.sqlite", "sqlalchemy.dialects.postgresql.psycopg"))
    yield s
    _stop(s)


def _stop(s: forkserver.ForkServer) -> None:
    for child in _started:
        child.stdin.close()
        child.stdout.close()
        child.wait(30)
    _started.clear()
    s.close()
    assert not _alive(s.pid)


def _start(server: forkserver.ForkServer, **job: Any) -> tuple[forkserver.ForkedChild, dict[str, Any]]:
    child = server.fork(ENTRY)
    _started.append(child)
    child.stdin.write(json.dumps(job) + "\n")
    child.stdin.flush()
    return child, json.loads(child.stdout.readline())


def test_children_are_forked_preloaded_in_their_own_session(server: forkserver.ForkServer) -> None:
    child, seen = _start(server, exit=7)
    assert seen["pid"] == child.pid and seen["ppid"] == server.pid == seen["parent"]
    assert seen["sid"] == child.pid  # Ctrl-C to the caller's group does not reach it
    assert seen["scrapy"] and not seen["reactor"]  # preloaded; the reactor is the child's own
    assert child.wait(30) == 7
    second, _ = _start(server)  # the same server forks the next one
    assert second.wait(30) == 0


def test_children_find_the_database_drivers_loaded(db_server: forkserver.ForkServer) -> None:
    """A preloaded SQLAlchemy dialect brings its DB-API driver along: SQLAlchemy imports it only
    on the first engine, which was every crawl child's and page indexer's own (psycopg's import
    was a sixth of a small crawl child's CPU, and twice a job)."""
    child, seen = _start(db_server)
    assert seen["drivers"] == ["psycopg", "sqlite3"]
    assert child.wait(30) == 0


def test_a_server_for_many_jobs_builds_the_stop_lists_once_for_its_children(
        server: forkserver.ForkServer) -> None:
    """MANY_JOBS' warm-up runs in the server, so each child finds trafilatura's and justext's stop
    lists built (0.14 s of a page indexer's CPU in every job) and the provenance record's software
    versions found (6-12 ms of a crawl child's); one that fails is skipped, the server serves. A
    server without it (`add`'s, the fixture's) leaves them to the child."""
    _, plain = _start(server)
    assert plain["stoplists"] == [False, False]
    assert not plain["versions"]
    warm = forkserver.ForkServer(preload=("trafilatura", "tests.crawler.test_forkserver:failing_warm_up",
                                          *preload.MANY_JOBS))
    try:
        child, seen = _start(warm)
        assert seen["stoplists"] == [True, True]
        assert seen["versions"]
        assert child.wait(30) == 0
    finally:
        _stop(warm)


def test_prestart_loads_the_callers_database_driver_before_forking() -> None:
    """The caller opens the index right after `prestart`: its driver is imported there once, and
    the server forked from it shares it (psycopg is 55-90 ms of import CPU), not the other one."""
    code = ("import sys; from citevault.crawler import forkserver; "
            "forkserver.prestart('postgresql+psycopg://nobody@127.0.0.1:9/none'); "
            "print('psycopg' in sys.modules, 'sqlite3' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         timeout=120)
    assert out.stdout.split() == ["True", "False"]


def test_signals_reach_the_child_and_its_end_is_seen(server: forkserver.ForkServer) -> None:
    child, _ = _start(server, wait_for_eof=True)
    assert child.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        child.wait(0.1)
    child.terminate()
    assert child.wait(30) == -signal.SIGTERM
    waiting, _ = _start(server, wait_for_eof=True)
    waiting.stdin.close()  # the caller is done with it: it sees the end of its stdin
    assert waiting.wait(30) == 0


def test_a_killed_server_does_not_make_a_live_child_look_dead(server: forkserver.ForkServer) -> None:
    child, _ = _start(server, wait_for_eof=True)
    os.kill(server.pid, signal.SIGKILL)
    _wait_for(lambda: not server.alive(), "the server to die")
    assert child.poll() is None  # still running: its end is not known from the server any more
    child.stdin.close()
    assert child.wait(30) == 255  # ended; its code died with the server
    with pytest.raises(OSError):
        server.fork(ENTRY)


def test_server_and_children_end_with_a_killed_caller(tmp_path: Path) -> None:
    script = (
        "import json, sys\n"
        "from citevault.crawler import forkserver\n"
        "s = forkserver.ForkServer(preload=())\n"
        f"c = s.fork({ENTRY!r})\n"
        "c.stdin.write(json.dumps({'wait_for_eof': True}) + '\\n'); c.stdin.flush()\n"
        "c.stdout.readline()\n"
        "print(s.pid, c.pid, flush=True)\n"
        "sys.stdin.read()\n"
    )
    with subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2]) as caller:
        assert caller.stdout is not None
        pids = [int(p) for p in caller.stdout.readline().split()]
        _kill_caller(caller, pids)


def _kill_caller(caller: subprocess.Popen[str], pids: list[int]) -> None:
    try:
        assert len(pids) == 2 and all(_alive(p) for p in pids)
        caller.kill()
        caller.wait(30)
        _wait_for(lambda: not any(_alive(p) for p in pids), "the server and its child to end")
    finally:
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        caller.kill()


def test_add_crawls_in_a_forked_child(web: FakeWeb, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The page answers once the test has seen the processes, not after a fixed delay (2 s were
    # a bet that the test looks within them, on a machine whose cores may be busy); the fetch
    # timeout must not end the wait first.
    monkeypatch.setenv("CITEVAULT_TIMEOUT", "300")
    looked = threading.Event()

    def held(req: FakeRequest) -> str:
        looked.wait(120)
        return "<p>held until the test has looked</p>"

    web.add("https://forked.example.test/", held)
    cli = Path(sys.executable).with_name("citevault")
    add = subprocess.Popen([str(cli), "add", "https://forked.example.test/", "--depth", "0", "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=os.environ.copy(),
                           text=True)
    try:
        _wait_for(lambda: web.hits("https://forked.example.test/") > 0, "the page's request")
        [server] = [int(p) for p in subprocess.run(["pgrep", "-P", str(add.pid)], capture_output=True,
                                                   text=True).stdout.split()]
        # Forked from `add` itself (one thread, no connection yet): its imports are not redone.
        assert Path(f"/proc/{server}/comm").read_text().strip() == "citevault-forks"
        forked = {Path(f"/proc/{p}/comm").read_text().strip(): int(p) for p in subprocess.run(
            ["pgrep", "-P", str(server)], capture_output=True, text=True).stdout.split()}
        # The crawl and its page indexer, both forked by the server, each in its own session.
        assert set(forked) == {"citevault-job", "citevault-pagei"}, forked
        assert all(os.getsid(pid) == pid for pid in forked.values())
        crawl = forked["citevault-job"]
        looked.set()
        out, _ = add.communicate(timeout=120)
    finally:
        looked.set()
        if add.poll() is None:
            add.kill()
    assert add.returncode == 0
    [source] = json.loads(out)["sources"]
    assert source["snapshot"]["state"] == "done"
    _wait_for(lambda: not _alive(server) and not _alive(crawl), "nothing left after add")


def test_no_fork_server_where_pidfd_open_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel before 5.3, a seccomp sandbox or valgrind has os.pidfd_open but refuses it: crawl
    children are then new interpreters (start_child's other path), not a traceback at the first
    fork."""
    assert forkserver.available()

    def refused(pid: int, flags: int = 0) -> int:
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(os, "pidfd_open", refused)
    assert not forkserver.available()
