"""A real pywb, in its own virtual environment, replays our archive through our /cdx endpoint
(`index: cdx+http://.../cdx`, `archive_paths` on our WARC directory), revisits included."""

from __future__ import annotations

import contextlib
import json
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
from sqlalchemy import select

from citevault.archive import Archive
from citevault.config import Settings
from citevault.crawler.recorder import CaptureRecorder
from citevault.storage.models import Capture
from citevault.storage.warcstore import WarcStore
from citevault.web import create_app
from tests.fakeweb import NewsSite
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
            httpx.get(url, timeout=2, trust_env=False)
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


@contextlib.contextmanager
def _wayback(wayback: Path, workdir: Path) -> Iterator[str]:
    """pywb's `wayback` serving the collections of `workdir` on a free port; yields its base URL."""
    port = _free_port()
    # pywb's front end calls its own warc server over HTTP: no proxy may come between them.
    env = {k: v for k, v in os.environ.items()
           if k != "PYWB_CONFIG_FILE" and not k.lower().endswith("_proxy")}
    log = (workdir / "wayback.log").open("wb")
    proc = subprocess.Popen([str(wayback), "-p", str(port), "-b", "127.0.0.1"], cwd=workdir, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_http(f"http://127.0.0.1:{port}/", 60)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


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
    with _wayback(wayback, workdir) as root:
        yield f"{root}/cv"


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


def test_pywb_indexes_our_warcs_itself_and_replays_the_seed(
    wayback: Path, news: NewsSite, tmp_path: Path
) -> None:
    """pywb's own indexer (`wb-manager add`) over the WARC files of a real capture: the snapshot's
    metadata record, written in the same second as the seed, must not stand in for the article."""
    settings = Settings()
    archive = Archive(settings)
    try:
        assert archive.capture(archive.queue([news.article])) == 0
        with archive.index.session() as s:
            seed = s.scalars(select(Capture).where(Capture.url == news.article)).one()
            ts = seed.timestamp
    finally:
        archive.close()
    warcs = sorted(str(p) for p in Path(archive.warc_dir).glob("*.warc.gz"))
    wb_manager = wayback.parent / "wb-manager"
    subprocess.run([str(wb_manager), "init", "cv"], cwd=tmp_path, check=True, timeout=120)
    subprocess.run([str(wb_manager), "add", "cv", *warcs], cwd=tmp_path, check=True, timeout=300)
    # Straight to pywb on loopback, not through the fake web's proxy the capture used.
    with _wayback(wayback, tmp_path) as root, httpx.Client(trust_env=False, timeout=30) as http:
        cdx = http.get(f"{root}/cv/cdx", params={"url": news.article, "output": "json"})
        assert cdx.status_code == 200, cdx.text[:500]
        rows = [json.loads(line) for line in cdx.text.splitlines() if line.strip()]
        assert rows and all(r.get("mime") == "text/html" for r in rows), rows
        raw = http.get(f"{root}/cv/{ts}id_/{news.article}")
        assert raw.status_code == 200 and raw.headers["content-type"].startswith("text/html")
        assert news.title.encode() in raw.content
        page = http.get(f"{root}/cv/{ts}mp_/{news.article}")
        assert page.status_code == 200 and news.title in page.text


def test_pywb_indexer_reads_a_recapture(wayback: Path, tmp_path: Path) -> None:
    """pywb's own `cdx-indexer` over a revisit and its request without block digests, each its
    own gzip member (issue 15, target 3): every record indexed, the revisit as warc/revisit."""
    from tests.storage.test_revisit_bytes import _capture_twice

    path = _capture_twice(tmp_path / "warcs")
    out = subprocess.run([str(wayback.parent / "cdx-indexer"), "-j", "-a", str(path)], check=True,
                         capture_output=True, timeout=120).stdout.decode()
    rows = [json.loads(line.split(" ", 2)[2]) for line in out.splitlines() if line.strip()]
    assert sorted(r.get("mime", "") for r in rows) == ["", "", "image/jpeg", "warc/revisit"], rows
