"""Memento (RFC 7089): headers of mementos, TimeGate negotiation and TimeMaps, parsed back; and the
memento-client package finding our mementos on a live server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from memento_client import MementoClient

from citevault.archive import Archive
from citevault.config import Settings
from citevault.crawler.recorder import CaptureRecorder
from citevault.storage.warcstore import WarcStore
from citevault.web import create_app
from tests.web.test_cdx import record

URL = "http://news.test/story"
STAMPS = ["20200101000000", "20210601120000", "20220101000000", "20230101000000"]
BASE = "http://testserver"


def parse_links(value: str) -> dict[str, dict[str, list[str]]]:
    """A Link header parsed the way memento-client parses it: {uri: {"rel": [...], "datetime": [...]}}."""
    return MementoClient.parse_link_header(value)  # type: ignore[no-any-return]


def by_rel(links: dict[str, dict[str, list[str]]], rel: str) -> list[str]:
    return [uri for uri, params in links.items() if rel in params.get("rel", [])]


@pytest.fixture(scope="module")
def app_archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, Archive]]:
    home = tmp_path_factory.mktemp("memento")
    settings = Settings(home=home)
    archive = Archive(settings)
    snap = archive.queue([URL])[0].snapshot_id
    with WarcStore(Path(archive.warc_dir)) as store:
        rec = CaptureRecorder(archive.index, store)
        for i, ts in enumerate(STAMPS):
            record(rec, snap, URL, ts, f"<p>version {i}</p>".encode())
    yield settings, archive
    archive.close()


@pytest.fixture(scope="module")
def client(app_archive: tuple[Settings, Archive]) -> Iterator[TestClient]:
    with TestClient(create_app(*app_archive)) as c:
        yield c


def test_memento_headers(client: TestClient) -> None:
    r = client.get(f"/web/{STAMPS[1]}/{URL}")
    assert r.status_code == 200
    assert parsedate_to_datetime(r.headers["memento-datetime"]) == datetime(2021, 6, 1, 12, tzinfo=UTC)
    links = parse_links(r.headers["link"])
    assert by_rel(links, "original") == [URL]
    assert by_rel(links, "timegate") == [f"{BASE}/timegate/{URL}"]
    assert by_rel(links, "timemap") == [f"{BASE}/timemap/link/{URL}"]
    assert links[f"{BASE}/timemap/link/{URL}"]["type"] == ["application/link-format"]

    def m(ts: str) -> str:
        return f"{BASE}/web/{ts}/{URL}"

    assert by_rel(links, "first") == [m(STAMPS[0])] == by_rel(links, "prev")
    assert by_rel(links, "next") == [m(STAMPS[2])]
    assert by_rel(links, "last") == [m(STAMPS[3])]
    assert m(STAMPS[1]) in by_rel(links, "memento")
    assert links[m(STAMPS[2])]["datetime"] == ["Sat, 01 Jan 2022 00:00:00 GMT"]
    # Raw mementos carry them too.
    raw = client.get(f"/web/{STAMPS[1]}id_/{URL}")
    assert raw.headers["memento-datetime"] == r.headers["memento-datetime"]
    assert by_rel(parse_links(raw.headers["link"]), "original") == [URL]


def test_public_url_setting_is_the_link_base(app_archive: tuple[Settings, Archive]) -> None:
    settings, archive = app_archive
    other = settings.model_copy(update={"public_url": "https://archive.example.org/"})
    with TestClient(create_app(other, archive)) as c:
        links = parse_links(c.get(f"/web/{STAMPS[0]}/{URL}").headers["link"])
    assert by_rel(links, "timegate") == [f"https://archive.example.org/timegate/{URL}"]


@pytest.mark.parametrize(("accept", "expected"), [
    ("Tue, 01 Jun 2021 00:00:00 GMT", STAMPS[1]),
    ("Mon, 01 Jan 1990 00:00:00 GMT", STAMPS[0]),
    ("Fri, 01 Jan 2100 00:00:00 GMT", STAMPS[3]),
    ("Sat, 01 Jan 2022 00:00:01 GMT", STAMPS[2]),
    (None, STAMPS[3]),
])
def test_timegate_negotiates(client: TestClient, accept: str | None, expected: str) -> None:
    headers = {"Accept-Datetime": accept} if accept else {}
    for method in ("GET", "HEAD"):
        r = client.request(method, f"/timegate/{URL}", headers=headers, follow_redirects=False)
        assert r.status_code == 302
        assert r.headers["location"] == f"{BASE}/web/{expected}/{URL}"
        assert r.headers["vary"] == "accept-datetime"
        assert "memento-datetime" not in r.headers
        links = parse_links(r.headers["link"])
        assert by_rel(links, "original") == [URL]
        assert f"{BASE}/web/{expected}/{URL}" in by_rel(links, "memento")
        assert by_rel(links, "timemap") == [f"{BASE}/timemap/link/{URL}"]


def test_timegate_errors(client: TestClient) -> None:
    bad = client.get(f"/timegate/{URL}", headers={"Accept-Datetime": "last tuesday"}, follow_redirects=False)
    assert bad.status_code == 400
    assert client.get("/timegate/http://unknown.test/", follow_redirects=False).status_code == 404


def test_timemap_link_format(client: TestClient) -> None:
    r = client.get(f"/timemap/link/{URL}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/link-format")
    links = parse_links(r.text.replace("\n", " "))
    assert by_rel(links, "original") == [URL]
    assert by_rel(links, "self") == [f"{BASE}/timemap/link/{URL}"]
    assert links[f"{BASE}/timemap/link/{URL}"]["from"] == ["Wed, 01 Jan 2020 00:00:00 GMT"]
    assert links[f"{BASE}/timemap/link/{URL}"]["until"] == ["Sun, 01 Jan 2023 00:00:00 GMT"]
    mementos = by_rel(links, "memento")
    assert mementos == [f"{BASE}/web/{ts}/{URL}" for ts in STAMPS]
    assert by_rel(links, "first") == mementos[:1] and by_rel(links, "last") == mementos[-1:]
    dts = [parsedate_to_datetime(links[u]["datetime"][0]).strftime("%Y%m%d%H%M%S") for u in mementos]
    assert dts == STAMPS
    assert client.get("/timemap/link/http://unknown.test/").status_code == 404
    assert client.get(f"/timemap/xml/{URL}").status_code == 404


def test_timemap_json(client: TestClient) -> None:
    doc = client.get(f"/timemap/json/{URL}").json()
    assert doc["original_uri"] == URL and doc["timegate_uri"] == f"{BASE}/timegate/{URL}"
    assert doc["timemap_uri"]["link_format"] == f"{BASE}/timemap/link/{URL}"
    assert [m["datetime"] for m in doc["mementos"]["list"]] == [
        "2020-01-01T00:00:00Z", "2021-06-01T12:00:00Z", "2022-01-01T00:00:00Z", "2023-01-01T00:00:00Z"]
    assert doc["mementos"]["first"]["uri"] == f"{BASE}/web/{STAMPS[0]}/{URL}"
    assert doc["mementos"]["last"]["uri"] == f"{BASE}/web/{STAMPS[3]}/{URL}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def live(app_archive: tuple[Settings, Archive]) -> Iterator[str]:
    """The app served by uvicorn on a free port, in a thread."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(*app_archive), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60  # a bound on a condition: both cores may be busy
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_memento_client_finds_our_mementos(live: str) -> None:
    with MementoClient(timegate_uri=f"{live}/timegate/", check_native_timegate=False) as mc:
        # Given one of our mementos, the client finds its original (rel="original") by itself,
        # then negotiates with our TimeGate.
        info: dict[str, Any] = mc.get_memento_info(f"{live}/web/{STAMPS[0]}/{URL}", datetime(2021, 7, 1))
    assert info["original_uri"] == URL
    assert info["timegate_uri"] == f"{live}/timegate/{URL}"
    found = info["mementos"]
    assert found["closest"]["uri"] == [f"{live}/web/{STAMPS[1]}/{URL}"]
    assert found["closest"]["datetime"] == datetime(2021, 6, 1, 12)
    assert found["closest"]["http_status_code"] == 200
    assert found["first"]["uri"] == [f"{live}/web/{STAMPS[0]}/{URL}"]
    assert found["last"]["uri"] == [f"{live}/web/{STAMPS[3]}/{URL}"]
    assert found["prev"]["datetime"] == datetime(2020, 1, 1)
    assert found["next"]["datetime"] == datetime(2022, 1, 1)
    assert MementoClient.is_memento(found["closest"]["uri"][0])
