"""`verify` catches altered records; `reindex` rebuilds the index (sources, snapshots, captures, links)
from the WARC files alone."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner
from warcio.statusandheaders import StatusAndHeaders

from citevault.cli import get_app
from citevault.config import Settings
from citevault.storage.db import open_index
from citevault.storage.models import Capture, Link, Snapshot, Source
from citevault.storage.reindex import reindex
from citevault.storage.warcstore import PARENT_HEADER, ROLE_HEADER, SNAPSHOT_HEADER, WarcStore
from citevault.web import create_app
from tests.fakeweb import FakeWeb, NewsSite


def run(*args: str) -> Any:
    return CliRunner().invoke(get_app(), list(args))


def test_verify_and_reindex(news: NewsSite, fakeweb: FakeWeb, home: Path, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    first = json.loads(run("add", news.article, "--depth", "0", "--json").stdout)
    assert run("add", news.article, "--depth", "0").exit_code == 0  # revisits too
    ok = run("verify", "--json")
    doc = json.loads(ok.stdout)
    assert ok.exit_code == 0 and doc["ok"] is True and doc["problems"] == []
    assert doc["evidence"]["manifests"] == 2 and doc["evidence"]["problems"] == []
    roles = {c["url"]: c["role"] for c in first["sources"][0]["snapshot"]["captures"]}
    ok = run("verify", "--json")
    assert ok.exit_code == 0
    doc = json.loads(ok.stdout)
    assert {k: doc[k] for k in ("ok", "checked", "problems")} == {"ok": True, "checked": 2 * len(roles),
                                                                  "problems": []}

    # A fresh, empty index over the same WARC files: reindex restores every record.
    monkeypatch.setenv("CITEVAULT_WARC_DIR", str(home / "warcs"))
    monkeypatch.setenv("CITEVAULT_DATABASE_URL", f"sqlite:///{tmp_path / 'rebuilt.db'}")
    assert run("get", news.article).exit_code == 2
    result = json.loads(run("reindex", "--json").stdout)
    assert result["added"] == result["records"] == 2 * len(roles)
    assert json.loads(run("reindex", "--json").stdout)["added"] == 0  # idempotent
    hist = json.loads(run("history", news.article, "--json").stdout)["captures"]
    assert [h["record_type"] for h in hist] == ["response", "revisit"]
    assert {h["role"] for h in hist} == {"seed"}
    got = run("get", news.article)
    assert got.exit_code == 0 and got.stdout_bytes == fakeweb.lookup(news.article).body  # type: ignore[union-attr]
    assert run("verify").exit_code == 0
    for url, role in roles.items():
        assert json.loads(run("history", url, "--json").stdout)["captures"][0]["role"] == role


def test_verify_detects_altered_payload(news: NewsSite, home: Path) -> None:
    added = run("add", news.article, "--depth", "0", "--json")
    assert added.exit_code == 0, added.stderr
    doc = json.loads(added.stdout)
    cap = next(c for c in doc["sources"][0]["snapshot"]["captures"] if c["url"] == news.article)
    path = home / "warcs" / cap["warc"]
    data = path.read_bytes()
    record = gzip.decompress(data[cap["offset"]: cap["offset"] + cap["length"]])
    tampered = record.replace(b"Senate", b"SENATE", 1)
    assert tampered != record
    blob = gzip.compress(tampered)
    path.write_bytes(data[: cap["offset"]] + blob + data[cap["offset"] + cap["length"]:])
    result = run("verify", "--json")
    assert result.exit_code == 1
    problems = json.loads(result.stdout)["problems"]
    assert [p["url"] for p in problems if "digest" in p["reason"]] == [news.article]


def _link_rows(db: str) -> int:
    index = open_index(db)
    try:
        with index.session() as s:
            return s.query(Link).count()
    finally:
        index.dispose()


def _index_rows(db: str) -> dict[tuple[str | None, int | None], tuple[Any, ...]]:
    """Every capture with a record, by (warc, offset): what it is, and the records its snapshot
    (by source URL), parent and revisit target are, by (warc, offset) too."""
    index = open_index(db)
    try:
        with index.session() as s:
            caps = {c.id: c for c in s.query(Capture)}
            snaps = {sn.id: (s.get(Source, sn.source_id).url, sn.queued_at)  # type: ignore[union-attr]
                     for sn in s.query(Snapshot)}

            def where(cid: int | None) -> tuple[str | None, int | None] | None:
                return (caps[cid].warc, caps[cid].offset) if cid is not None else None

            return {
                (c.warc, c.offset): (
                    c.url, c.role, c.status, c.mime, c.record_type, c.digest, c.sha256, c.length,
                    c.timestamp, c.redirect_to,
                    snaps.get(c.snapshot_id) if c.snapshot_id else None,
                    where(c.parent_id), where(c.refers_to_id),
                )
                for c in caps.values() if c.warc is not None
            }
    finally:
        index.dispose()


def _cdx() -> str:
    """The whole /cdx answer for the news site's domain, as pywb would ask for it."""
    with TestClient(create_app(Settings())) as client:
        got = client.get("/cdx", params={"url": "dailyledger.test", "matchType": "domain"})
    assert got.status_code == 200, got.text
    return got.text


def _links(doc: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    return sorted((ln["url"], ln["text"], ln["kind"]) for ln in doc["links"])


def _captures(doc: dict[str, Any]) -> list[list[tuple[Any, ...]]]:
    keys = ("url", "role", "status", "mime", "timestamp", "warc", "offset", "length", "sha256",
            "record_type", "redirect_to")
    return [
        sorted(tuple(c[k] for k in keys) for c in snap["captures"] if c["warc"] is not None)
        for snap in doc["snapshots"]
    ]


def test_reindex_rebuilds_sources_snapshots_and_links(
    news: NewsSite, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = run("add", news.article, "--note", "water bill story", "--json")
    assert first.exit_code == 0, first.stderr
    # The same URL again: a second snapshot of the one source (revisits), now depth 0, scope all.
    second = run("add", news.article, "--depth", "0", "--scope", "all", "--json")
    assert second.exit_code == 0, second.stderr
    listed = json.loads(run("list", "--json").stdout)["sources"]
    shown = [json.loads(run("show", "1", "--json").stdout)]
    assert [snap["state"] for doc in shown for snap in doc["snapshots"]] == ["done", "done"]
    cited = run("cite", "1", "--json")
    assert cited.exit_code == 0, cited.stderr
    hist = json.loads(run("history", news.article, "--json").stdout)["captures"]
    assert [h["record_type"] for h in hist] == ["response", "revisit"]
    original_db = f"sqlite:///{home / 'citevault.db'}"
    original = _index_rows(original_db)
    cdx = _cdx()
    assert news.article in cdx and "metadata" not in cdx

    # The database is lost: a fresh, empty one over the same WARC files.
    monkeypatch.setenv("CITEVAULT_WARC_DIR", str(home / "warcs"))
    rebuilt_db = f"sqlite:///{tmp_path / 'rebuilt.db'}"
    monkeypatch.setenv("CITEVAULT_DATABASE_URL", rebuilt_db)
    assert json.loads(run("list", "--json").stdout)["sources"] == []
    result = run("reindex", "--json")
    assert result.exit_code == 0, result.stderr
    counts = json.loads(result.stdout)
    assert (counts["sources"], counts["snapshots"], counts["added"]) == (1, 2, len(original))
    assert counts["links"] == _link_rows(original_db) > 0

    relisted = json.loads(run("list", "--json").stdout)["sources"]
    fields = ("id", "url", "note", "depth", "scope", "schedule", "created_at", "snapshots",
              "last_state", "captures", "cited", "requisites")
    assert [{k: r[k] for k in fields} for r in relisted] == [{k: r[k] for k in fields} for r in listed]
    assert relisted[0]["note"] == "water bill story" and relisted[0]["scope"] == "all"
    reshown = [json.loads(run("show", "1", "--json").stdout)]
    for doc, before in zip(reshown, shown, strict=True):
        assert [snap["state"] for snap in doc["snapshots"]] == ["done", "done"]
        assert [(snap["trigger"], snap["queued_at"], snap["started_at"]) for snap in doc["snapshots"]] == [
            (snap["trigger"], snap["queued_at"], snap["started_at"]) for snap in before["snapshots"]
        ]
        assert _captures(doc) == _captures(before)
        assert _links(doc) == _links(before)
    assert {ln["url"] for ln in reshown[0]["links"] if ln["kind"] == "cited"} >= set(news.cited)
    # Snapshot membership, parents and revisit targets, record by record.
    assert _index_rows(rebuilt_db) == original
    assert _cdx() == cdx

    recited = run("cite", "1", "--json")
    assert recited.exit_code == 0, recited.stderr
    assert json.loads(recited.stdout) == json.loads(cited.stdout)
    wacz = tmp_path / "source1.wacz"
    exported = run("export", "1", "--wacz", str(wacz))
    assert exported.exit_code == 0, exported.stderr
    assert wacz.stat().st_size > 0
    rehist = json.loads(run("history", news.article, "--json").stdout)["captures"]
    assert rehist == hist

    again = json.loads(run("reindex", "--json").stdout)
    assert (again["added"], again["sources"], again["snapshots"], again["links"]) == (0, 0, 0, 0)
    assert _index_rows(rebuilt_db) == original

    # The rebuilt index captures on: an unchanged page is a revisit of the rebuilt response.
    third = run("add", news.article, "--depth", "0", "--json")
    assert third.exit_code == 0, third.stderr
    types = [h["record_type"] for h in json.loads(run("history", news.article, "--json").stdout)["captures"]]
    assert types == ["response", "revisit", "revisit"]


def test_reindex_without_metadata_and_with_metadata_in_a_later_file(tmp_path: Path, db_url: str) -> None:
    """Records from before snapshots had metadata become captures of no snapshot; a snapshot
    whose metadata record sorts after its captures' file still gets them, parents included."""
    warcs = tmp_path / "warcs"

    def write(store: WarcStore, url: str, headers: dict[str, str]) -> str:
        written = store.write_exchange(
            url, request_head=StatusAndHeaders("GET / HTTP/1.1", [("Host", "example.org")], protocol=""),
            response_head=StatusAndHeaders("200 OK", [("Content-Type", "text/plain")], protocol="HTTP/1.1"),
            body=url.encode(), when=datetime.now(UTC), extra_headers=headers,
        )
        return written.record_id

    with WarcStore(warcs, prefix="a-old") as old:
        write(old, "https://example.org/old", {ROLE_HEADER: "seed"})
    with WarcStore(warcs, prefix="b-caps") as caps:
        page = write(caps, "https://example.org/", {ROLE_HEADER: "seed", SNAPSHOT_HEADER: "k1"})
        write(caps, "https://example.org/style.css",
              {ROLE_HEADER: "requisite", SNAPSHOT_HEADER: "k1", PARENT_HEADER: page})
    with WarcStore(warcs, prefix="c-meta") as meta:
        meta.write_metadata("https://example.org/", {
            "type": "citevault-snapshot", "snapshot_key": "k1",
            "source": {"url": "https://example.org/", "note": None, "depth": 0, "scope": "cited",
                       "schedule": "@daily", "created_at": "2024-01-02T03:04:05.123456Z"},
            "snapshot": {"trigger": "schedule", "queued_at": "2024-01-02T03:04:05.200000Z",
                         "started_at": "2024-01-02T03:04:06.000001Z", "attempt": 1},
        }, {SNAPSHOT_HEADER: "k1"})
        meta.write_metadata("https://example.org/", {"something": "else"})  # not ours: ignored

    index = open_index(db_url)
    try:
        result = reindex(index, warcs)
        got = (result.files, result.records, result.added, result.sources, result.snapshots)
        assert got == (3, 3, 3, 1, 1)
        with index.session() as s:
            src = s.query(Source).one()
            assert (src.url, src.depth, src.schedule, src.created_at) == (
                "https://example.org/", 0, "@daily", datetime(2024, 1, 2, 3, 4, 5, 123456))
            snap = s.query(Snapshot).one()
            assert (snap.source_id, snap.trigger, snap.state, snap.urls_done, snap.attempts) == (
                src.id, "schedule", "done", 2, 1)
            assert snap.started_at == datetime(2024, 1, 2, 3, 4, 6, 1)
            by_url = {c.url: c for c in s.query(Capture)}
            assert by_url["https://example.org/old"].snapshot_id is None
            assert by_url["https://example.org/old"].role == "seed"
            assert by_url["https://example.org/"].snapshot_id == snap.id
            css = by_url["https://example.org/style.css"]
            assert (css.snapshot_id, css.parent_id) == (snap.id, by_url["https://example.org/"].id)
        again = reindex(index, warcs)
        assert (again.added, again.sources, again.snapshots) == (0, 0, 0)
        with index.session() as s:
            assert s.query(Snapshot).count() == 1 and s.query(Capture).count() == 3
    finally:
        index.dispose()
