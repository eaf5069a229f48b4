"""A real pywb, in its own virtual environment, replays our archive through our /cdx endpoint
(`index: cdx+http://.../cdx`, `archive_paths` on our WARC directory), revisits included."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from citevault.archive import Archive
from citevault.config import Settings
from citevault.crawler.recorder import CaptureRecorder
from citevault.storage.warcstore import WarcStore
from citevault.web import create_app
from tests.web.test_cdx import record

REPO = Path(__file__).resolve().parents[2]
WAYBACK = REPO / ".venv-pywb" / "bin" / "wayback"
URL = "http://pywb.test/article?id=7"
PAGE = (b'<html><head><title>Archived</title></head><body><p>archived words</p>'
        b'<img src="/i.png"></body></html>')

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="module")
def wayback() -> Path:
    """pywb's `wayback`, built by `make pywb-venv` when missing (pywb pins redis==2.10.6, which
    cannot share our venv, whose redis client is newer)."""
    if not WAYBACK.exists():
        if shutil.which("make") is None:
            pytest.fail("make is needed to build .venv-pywb (make pywb-venv)")
        subprocess.run(["make", "pywb-venv"], cwd=REPO, check=True, timeout=900)
    assert WAYBACK.exists()
    return WAYBACK


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """Our app on a free port (uvicorn in a thread) over an archive with a response and a revisit."""
    home = tmp_path_factory.mktemp("pywb")
    settings = Settings(home=home)
    archive = Archive(settings)
    snap = archive.queue([URL])[0].snapshot_id
    with WarcStore(Path(archive.warc_dir)) as store:
        rec = CaptureRecorder(archive.index, store)
        record(rec, snap, URL, "20200101000000", PAGE)
        assert record(rec, snap, URL, "20230101000000", PAGE).record_type == "revisit"
        record(rec, snap, "http://pywb.test/i.png", "20200101000005", b"\x89PNG-image",
               headers=[("Content-Type", "image/png")], role="requisite")
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, archive), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    _wait_http(f"http://127.0.0.1:{port}/healthz", 10)
    yield f"http://127.0.0.1:{port}", Path(archive.warc_dir)
    server.should_exit = True
    thread.join(timeout=10)
    archive.close()


@pytest.fixture(scope="module")
def pywb(wayback: Path, service: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base, warc_dir = service
    workdir = tmp_path_factory.mktemp("pywb-run")
    (workdir / "config.yaml").write_text(
        "collections:\n"
        "  cv:\n"
        f'    index: "cdx+{base}/cdx"\n'
        f'    archive_paths: "{warc_dir}/"\n'
    )
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYWB_CONFIG_FILE"}
    log = (workdir / "wayback.log").open("wb")
    proc = subprocess.Popen([str(wayback), "-p", str(port), "-b", "127.0.0.1"], cwd=workdir, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_http(f"http://127.0.0.1:{port}/", 60)
        yield f"http://127.0.0.1:{port}/cv"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_pywb_replays_through_our_cdx(pywb: str) -> None:
    r = httpx.get(f"{pywb}/20200101000000id_/{URL}", timeout=30)
    assert r.status_code == 200, r.text[:500]
    assert r.content == PAGE
    assert r.headers["memento-datetime"] == "Wed, 01 Jan 2020 00:00:00 GMT"


def test_pywb_resolves_our_revisits(pywb: str) -> None:
    r = httpx.get(f"{pywb}/20230101000000id_/{URL}", timeout=30)
    assert r.status_code == 200
    assert r.content == PAGE
    assert r.headers["memento-datetime"] == "Sun, 01 Jan 2023 00:00:00 GMT"


def test_pywb_closest_and_rewritten_replay(pywb: str) -> None:
    # A partial timestamp: pywb asks our /cdx for the closest capture (2020, not 2023).
    r = httpx.get(f"{pywb}/20200601mp_/{URL}", timeout=30, follow_redirects=True)
    assert r.status_code == 200
    assert r.headers["memento-datetime"] == "Wed, 01 Jan 2020 00:00:00 GMT"
    assert "archived words" in r.text
    assert 'src="/cv/20200601im_/http://pywb.test/i.png"' in r.text  # rewritten by pywb
    img = httpx.get(f"{pywb}/20200101000005im_/http://pywb.test/i.png", timeout=30)
    assert img.status_code == 200 and img.content == b"\x89PNG-image"
    missing = httpx.get(f"{pywb}/2021id_/http://pywb.test/never", timeout=30)
    assert missing.status_code == 404
