"""The CDX server API (/cdx): every query parameter and output format, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from citevault.archive import Archive
from citevault.config import Settings
from citevault.crawler.recorder import CaptureRecorder, Exchange, Recorded
from citevault.storage.warcstore import WarcStore
from citevault.web import create_app
from tests.conftest import PG_ADMIN_URL, need_server


def when(ts: str) -> datetime:
    return datetime.strptime(ts, "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def record(
    recorder: CaptureRecorder,
    snapshot_id: int,
    url: str,
    ts: str,
    body: bytes = b"<html><body>hello</body></html>",
    *,
    status: int = 200,
    headers: list[tuple[str, str]] | None = None,
    role: str = "seed",
) -> Recorded:
    """Archive one exchange as the capture flow does (revisit when the payload repeats)."""
    return recorder.record(
        snapshot_id,
        Exchange(url=url, method="GET", request_headers=[("User-Agent", "test")], status=status,
                 response_headers=headers if headers is not None else [("Content-Type", "text/html")],
                 body=body, fetched_at=when(ts)),
        role=role,
    )


# (url, timestamp, body, status, content type)
ROWS = [
    ("http://example.com/", "20200101000000", b"<p>one</p>", 200, "text/html"),
    ("http://example.com/", "20210615120000", b"<p>two</p>", 200, "text/html"),
    ("http://example.com/", "20220301000000", b"<p>two</p>", 200, "text/html"),  # revisit
    ("http://example.com/about", "20210101000000", b"about", 200, "text/html"),
    ("http://example.com/about/team", "20210102000000", b"team", 200, "text/html"),
    ("https://sub.example.com/page", "20210103000000", b"sub", 200, "text/html"),
    ("http://example.org/", "20210104000000", b"org", 200, "text/html"),
    ("http://examplefoo.com/", "20210105000000", b"foo", 200, "text/html"),
    ("http://example.com/missing", "20210106000000", b"gone", 404, "text/plain"),
    ("http://example.com/img.png", "20210107000000", b"\x89PNG", 200, "image/png"),
]
EXAMPLE_COM = ["http://example.com/", "http://example.com/about", "http://example.com/about/team",
               "http://example.com/img.png", "http://example.com/missing"]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def client(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """An app over an archive holding ROWS (and one failed fetch), once per database."""
    home = tmp_path_factory.mktemp("cdx")
    pg_name = None
    if request.param == "sqlite":
        db_url = f"sqlite:///{home / 'index.db'}"
    else:
        need_server("PostgreSQL", "127.0.0.1", 5432)
        pg_name = f"citevault_test_{uuid.uuid4().hex[:12]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{pg_name}"'))
        db_url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{pg_name}"
    settings = Settings(home=home, database_url=db_url)
    archive = Archive(settings)
    seed(archive)
    try:
        with TestClient(create_app(settings, archive)) as c:
            yield c
    finally:
        archive.close()
        if pg_name:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
            admin.dispose()


def seed(archive: Archive) -> None:
    snap = archive.queue(["http://example.com/"])[0].snapshot_id
    with WarcStore(Path(archive.warc_dir)) as store:
        rec = CaptureRecorder(archive.index, store)
        for url, ts, body, status, ctype in ROWS:
            record(rec, snap, url, ts, body, status=status, headers=[("Content-Type", ctype)])
        rec.record_failure(snap, "http://example.com/down", "connection refused", role="cited")


def cdx(client: TestClient, **params: Any) -> list[list[str]]:
    """A JSON (Wayback) answer as rows without the header row."""
    r = client.get("/cdx", params={"output": "json", **params})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    doc = json.loads(r.text)
    return doc[1:] if doc else []


def col(rows: list[list[str]], i: int) -> list[str]:
    return [r[i] for r in rows]


# -- matching ---------------------------------------------------------------------------------------
def test_exact_match_by_surt(client: TestClient) -> None:
    rows = cdx(client, url="example.com")
    assert col(rows, 1) == ["20200101000000", "20210615120000", "20220301000000"]
    assert set(col(rows, 0)) == {"com,example)/"}
    # SURT canonicalisation: scheme, www. and case do not matter.
    assert cdx(client, url="https://WWW.example.com/") == rows
    assert cdx(client, url="example.com", matchType="exact") == rows
    assert cdx(client, url="http://nowhere.test/") == []


def test_failed_fetches_are_not_listed(client: TestClient) -> None:
    assert cdx(client, url="http://example.com/down") == []


def test_prefix_match_and_wildcard(client: TestClient) -> None:
    about = cdx(client, url="example.com/about", matchType="prefix")
    assert col(about, 2) == ["http://example.com/about", "http://example.com/about/team"]
    assert cdx(client, url="example.com/about*") == about
    everything = cdx(client, url="example.com/*")
    assert sorted(set(col(everything, 2))) == EXAMPLE_COM
    assert len(everything) == 7
    assert cdx(client, url="example.com", matchType="prefix") == everything


def test_host_match(client: TestClient) -> None:
    rows = cdx(client, url="http://example.com/some/page", matchType="host")
    assert sorted(set(col(rows, 2))) == EXAMPLE_COM
    # Sorted by SURT key, then time.
    keys = [(r[0], r[1]) for r in rows]
    assert keys == sorted(keys)


def test_domain_match_and_wildcard(client: TestClient) -> None:
    rows = cdx(client, url="example.com", matchType="domain")
    urls = col(rows, 2)
    assert sorted(set(urls)) == sorted(EXAMPLE_COM + ["https://sub.example.com/page"])
    assert "http://examplefoo.com/" not in urls and "http://example.org/" not in urls
    assert urls[-1] == "https://sub.example.com/page"  # the domain sorts before its subdomains
    assert cdx(client, url="*.example.com") == rows
    assert col(cdx(client, url="sub.example.com", matchType="domain"), 2) == ["https://sub.example.com/page"]


# -- time, limits, order ----------------------------------------------------------------------------
def test_from_and_to(client: TestClient) -> None:
    assert col(cdx(client, url="example.com", **{"from": "2021"}), 1) == ["20210615120000", "20220301000000"]
    assert col(cdx(client, url="example.com", to="2021"), 1) == ["20200101000000", "20210615120000"]
    assert col(cdx(client, url="example.com", to="202106"), 1) == ["20200101000000", "20210615120000"]
    assert col(cdx(client, url="example.com", to="20210615115959"), 1) == ["20200101000000"]
    assert col(cdx(client, url="example.com", **{"from": "2021", "to": "2021"}), 1) == ["20210615120000"]


def test_limit_positive_and_negative(client: TestClient) -> None:
    assert col(cdx(client, url="example.com", limit="2"), 1) == ["20200101000000", "20210615120000"]
    assert col(cdx(client, url="example.com", limit="-1"), 1) == ["20220301000000"]
    assert col(cdx(client, url="example.com", limit="-2"), 1) == ["20210615120000", "20220301000000"]
    # Over a range: the last N rows in SURT order, still ascending.
    assert cdx(client, url="example.com/*", limit="-2") == cdx(client, url="example.com/*")[-2:]


def test_sort_reverse(client: TestClient) -> None:
    rows = cdx(client, url="example.com", sort="reverse")
    assert col(rows, 1) == ["20220301000000", "20210615120000", "20200101000000"]
    assert col(cdx(client, url="example.com", sort="reverse", limit="1"), 1) == ["20220301000000"]
    wide = cdx(client, url="example.com/*", sort="reverse")
    assert wide == list(reversed(cdx(client, url="example.com/*")))


def test_sort_closest(client: TestClient) -> None:
    rows = cdx(client, url="example.com", sort="closest", closest="20210101")
    # 2021-06-15 is 5.5 months away, 2022-03-01 14 months, 2020-01-01 12 months.
    assert col(rows, 1) == ["20210615120000", "20200101000000", "20220301000000"]
    assert col(cdx(client, url="example.com", sort="closest", closest="2022", limit="1"), 1) == [
        "20220301000000"]
    # pywb sends closest with sort=closest; closest alone also sorts; no closest means now.
    assert cdx(client, url="example.com", closest="20210101") == rows
    assert col(cdx(client, url="example.com", sort="closest"), 1)[0] == "20220301000000"
    # Closest over a range of URLs.
    near = cdx(client, url="example.com/*", sort="closest", closest="20210106", limit="2")
    assert col(near, 2) == ["http://example.com/missing", "http://example.com/img.png"]


@pytest.mark.parametrize(("first", "batch"), [(1, 1), (2, 3)])
def test_answers_longer_than_the_first_select_continue_after_its_last_row(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, first: int, batch: int
) -> None:
    """A lookup reads _FIRST rows with one SELECT, then _BATCH at a time, each from after the
    last row read (cdxsql.stream): the answers are those of one SELECT, whatever the split."""
    queries: list[dict[str, Any]] = [
        {"url": "example.com"}, {"url": "example.com", "sort": "reverse"},
        {"url": "example.com", "limit": "-2"}, {"url": "example.com", "limit": "3"},
        {"url": "example.com/*"}, {"url": "example.com/*", "sort": "reverse"},
        {"url": "example.com/*", "limit": "5"}, {"url": "example.com", "matchType": "domain"},
        {"url": "example.com", "matchType": "domain", "sort": "reverse"},
        {"url": "example.com", "sort": "closest", "closest": "20210101"},
        {"url": "example.com/*", "sort": "closest", "closest": "20210106", "limit": "4"},
        {"url": "example.com/*", "filter": "!statuscode:404"},
        {"url": "example.com/*", "collapse": "urlkey", "limit": "3"},
    ]
    whole = [cdx(client, **q) for q in queries]
    assert all(whole[:3]) and len(whole[4]) == 7
    monkeypatch.setattr("citevault.cdxsql._FIRST", first)
    monkeypatch.setattr("citevault.cdxsql._BATCH", batch)
    assert [cdx(client, **q) for q in queries] == whole


# -- output -----------------------------------------------------------------------------------------
def test_json_output_header_and_fl(client: TestClient) -> None:
    doc = client.get("/cdx", params={"url": "example.com", "output": "json"}).json()
    assert doc[0] == ["urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length"]
    assert doc[1][:5] == ["com,example)/", "20200101000000", "http://example.com/", "text/html", "200"]
    assert all(isinstance(v, str) for row in doc for v in row)
    fl = "original,statuscode,filename"
    doc = client.get("/cdx", params={"url": "example.com", "output": "json", "fl": fl}).json()
    assert doc[0] == ["original", "statuscode", "filename"]
    assert doc[1][:2] == ["http://example.com/", "200"] and doc[1][2].endswith(".warc.gz")
    assert client.get("/cdx", params={"url": "nowhere.test", "output": "json"}).json() == []


def test_revisit_rows(client: TestClient) -> None:
    rows = cdx(client, url="example.com", fl="timestamp,mimetype,digest")
    assert [r[1] for r in rows] == ["text/html", "text/html", "warc/revisit"]
    assert rows[1][2] == rows[2][2] != rows[0][2]
    assert not rows[0][2].startswith("sha1:") and len(rows[0][2]) == 32  # base32 SHA-1, CDX style


def test_cdxj_output_is_default(client: TestClient) -> None:
    r = client.get("/cdx", params={"url": "example.com/about"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/x-cdxj")
    lines = r.text.splitlines()
    assert len(lines) == 1
    key, ts, blob = lines[0].split(" ", 2)
    assert (key, ts) == ("com,example)/about", "20210101000000")
    fields = json.loads(blob)
    assert fields["url"] == "http://example.com/about" and fields["status"] == "200"
    assert fields["mime"] == "text/html" and fields["filename"].endswith(".warc.gz")
    assert int(fields["offset"]) >= 0 and int(fields["length"]) > 0
    only = client.get("/cdx", params={"url": "example.com/about", "output": "cdxj", "fl": "url,length"}).text
    assert json.loads(only.split(" ", 2)[2]).keys() == {"url", "length"}


def test_text_output(client: TestClient) -> None:
    r = client.get("/cdx", params={"url": "example.com", "output": "text", "limit": "1"})
    assert r.headers["content-type"].startswith("text/plain")
    fields = r.text.strip().split(" ")
    assert len(fields) == 7
    assert fields[:4] == ["com,example)/", "20200101000000", "http://example.com/", "text/html"]
    r = client.get("/cdx", params={"url": "example.com", "output": "text", "fl": "timestamp,statuscode"})
    assert r.text == "20200101000000 200\n20210615120000 200\n20220301000000 200\n"


# -- filter and collapse ----------------------------------------------------------------------------
def test_filter_regex_negation_contains(client: TestClient) -> None:
    assert col(cdx(client, url="example.com/*", filter="statuscode:404"), 2) == ["http://example.com/missing"]
    not_404 = cdx(client, url="example.com/*", filter="!statuscode:404")
    assert len(not_404) == 6 and "http://example.com/missing" not in col(not_404, 2)
    # A regex must match the whole value (as the Wayback CDX server does).
    assert sorted(col(cdx(client, url="example.com/*", filter="mimetype:text/.*"), 3)) == [
        "text/html"] * 4 + ["text/plain"]
    assert cdx(client, url="example.com/*", filter="mimetype:text") == []
    assert col(cdx(client, url="example.com/*", filter="~original:about"), 2) == [
        "http://example.com/about", "http://example.com/about/team"]
    assert col(cdx(client, url="example.com/*", filter="!~original:about"), 2) == [
        "http://example.com/", "http://example.com/", "http://example.com/",
        "http://example.com/img.png", "http://example.com/missing"]
    assert col(cdx(client, url="example.com/*", filter="=mimetype:image/png"), 2) == ["http://example.com/img.png"]
    both = cdx(client, url="example.com", filter=["!mimetype:warc/revisit", "statuscode:200"])
    assert col(both, 1) == ["20200101000000", "20210615120000"]


def test_collapse(client: TestClient) -> None:
    assert col(cdx(client, url="example.com/*", collapse="urlkey"), 2) == [
        "http://example.com/", "http://example.com/about", "http://example.com/about/team",
        "http://example.com/img.png", "http://example.com/missing"]
    assert col(cdx(client, url="example.com", collapse="digest"), 1) == ["20200101000000", "20210615120000"]
    assert len(cdx(client, url="example.com", collapse="timestamp:4")) == 3
    assert col(cdx(client, url="example.com", collapse="timestamp:2"), 1) == ["20200101000000"]
    # Collapse then limit.
    assert len(cdx(client, url="example.com/*", collapse="urlkey", limit="2")) == 2


@pytest.mark.parametrize("params", [
    {},
    {"url": "example.com", "matchType": "bogus"},
    {"url": "example.com", "limit": "ten"},
    {"url": "example.com", "from": "20211340"},
    {"url": "example.com", "to": "2021x"},
    {"url": "example.com", "closest": "yesterday"},
    {"url": "example.com", "sort": "sideways"},
    {"url": "example.com", "filter": "nocolon"},
    {"url": "example.com", "filter": "nofield:x"},
    {"url": "example.com", "filter": "statuscode:("},
    {"url": "example.com", "fl": "original,nonsense"},
    {"url": "example.com", "collapse": "digest:x"},
    {"url": "example.com", "output": "xml"},
])
def test_bad_parameters_are_400(client: TestClient, params: dict[str, str]) -> None:
    r = client.get("/cdx", params=params)
    assert r.status_code == 400, (params, r.text)
    assert r.json()["error"]
