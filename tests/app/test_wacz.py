"""WACZ export: py-wacz package of a source's records copied byte for byte; CLI `export`; the API."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner
from warcio.archiveiterator import ArchiveIterator

from citevault.archive import Archive
from citevault.cli import get_app
from citevault.config import Settings
from citevault.storage.errors import BadInput, NotFound
from citevault.storage.models import Capture, Snapshot
from citevault.storage.warcreader import read_record_bytes
from citevault.wacz_export import export_wacz
from citevault.web import create_app
from tests.fakeweb import FakeWeb, NewsSite, build_news_site

DEAD = "https://wacz-test.example/never-answers"
HUB = "https://wacz-test.example/citing-the-article"


@dataclass
class Exported:
    home: Path
    settings: Settings
    site: NewsSite
    source_id: int
    dead_id: int
    wacz: Path


@pytest.fixture(scope="module")
def exported(fakeweb: FakeWeb, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exported]:
    """The news article captured as a page another source cites, then as a source of its own twice:
    that source's records are mostly revisits of the citing source's, and it is the one exported."""
    home = tmp_path_factory.mktemp("wacz-home")
    site = build_news_site(fakeweb)
    fakeweb.add(DEAD, drop=True)
    with pytest.MonkeyPatch.context() as mp:
        for k, v in fakeweb.proxy_env().items():
            mp.setenv(k, v)
        mp.setenv("CITEVAULT_ALLOW_PRIVATE_NETWORKS", "1")
        settings = Settings(home=home, retries=0, timeout=5)
        archive = Archive(settings)
        fakeweb.add(HUB, f'<html><body><article><p>As <a href="{site.article}">the Daily Ledger reported'
                         ' in its article on the matter</a>, it happened.</p></article></body></html>')
        first = archive.queue([HUB, DEAD])
        archive.capture(first)
        # The article itself as a source (one source per URL: its URL was only cited so far).
        [queued] = archive.queue([site.article])
        second = queued.source_id
        archive.capture([queued])
        archive.capture([archive.requeue(second)])
        out = home / "article.wacz"
        export_wacz(archive, second, out)
        archive.close()
    yield Exported(home, settings, site, second, first[1].source_id, out)


def source_captures(settings: Settings, source_id: int) -> list[Capture]:
    archive = Archive(settings)
    with archive.index.session() as s:
        caps = list(s.scalars(
            select(Capture).join(Snapshot, Capture.snapshot_id == Snapshot.id)
            .where(Snapshot.source_id == source_id, Capture.warc.is_not(None))
        ))
    archive.close()
    return caps


def warc_records(wacz: Path) -> tuple[bytes, list[tuple[Any, int, int]]]:
    """The exported WARC's bytes and (record, offset, length) of each record in it."""
    with zipfile.ZipFile(wacz) as z:
        names = [n for n in z.namelist() if n.startswith("archive/")]
        assert len(names) == 1 and names[0].endswith(".warc.gz")
        data = z.read(names[0])
    out = []
    it = ArchiveIterator(io.BytesIO(data))
    for rec in it:
        headers = rec.rec_headers
        rec.content_stream().read()
        it.read_to_end()
        out.append((headers, it.get_record_offset(), it.get_record_length()))
    return data, out


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wacz", "validate", "-f", str(path)],
                          capture_output=True, text=True, timeout=120)


def test_passes_wacz_validate(exported: Exported) -> None:
    result = validate(exported.wacz)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation succeeded, the passed WACZ is valid" in result.stdout
    with zipfile.ZipFile(exported.wacz) as z:
        names = set(z.namelist())
        assert {"datapackage.json", "datapackage-digest.json", "pages/pages.jsonl",
                "indexes/index.cdx.gz"} <= names
        package = json.loads(z.read("datapackage.json"))
        warc = next(n for n in names if n.startswith("archive/"))
        assert z.getinfo(warc).compress_type == zipfile.ZIP_STORED  # WACZ wants WARCs stored
    assert package["mainPageURL"] == exported.site.article
    assert {r["path"] for r in package["resources"]} >= {"pages/pages.jsonl", "indexes/index.cdx.gz"}


def test_records_are_copied_byte_for_byte(exported: Exported) -> None:
    caps = source_captures(exported.settings, exported.source_id)
    data, records = warc_records(exported.wacz)
    by_id = {h.get_header("WARC-Record-ID"): (h, data[o:o + n]) for h, o, n in records}
    assert records[0][0].get_header("WARC-Type") == "warcinfo"
    revisits = [c for c in caps if c.record_type == "revisit"]
    assert revisits, "the second source's captures should be revisits"
    with Archive(exported.settings).index.session() as s:
        originals = [s.get(Capture, c.refers_to_id) for c in revisits]
        first_source = {o.snapshot.source_id for o in originals if o is not None and o.snapshot}
    # Revisits point at records of the other source; the export carries those originals too.
    assert first_source - {exported.source_id}
    wanted = {c.id: c for c in caps + [o for o in originals if o is not None]}
    settings = exported.settings
    found = 0
    for cap in wanted.values():
        assert cap.warc and cap.offset is not None and cap.record_length
        raw = read_record_bytes(settings.effective_warc_dir, cap.warc, cap.offset, cap.record_length)
        with gzip.open(io.BytesIO(raw)) as fh:
            head = fh.read(4096).decode("latin-1")
        record_id = next(ln.split(": ", 1)[1].strip() for ln in head.splitlines()
                         if ln.startswith("WARC-Record-ID:"))
        assert record_id in by_id, f"{cap.url} ({cap.record_type}) is missing from the export"
        assert by_id[record_id][1] == raw, f"{cap.url}: record bytes differ from the original"
        found += 1
    assert found == len(wanted)
    # Each response and revisit came with its request record, also copied unchanged.
    requests = [h for h, _, _ in records if h.get_header("WARC-Type") == "request"]
    concurrent = {h.get_header("WARC-Concurrent-To") for h in requests}
    kinds = {h.get_header("WARC-Record-ID"): h.get_header("WARC-Type") for h, _, _ in records}
    assert concurrent <= set(kinds)
    assert len(requests) == sum(1 for t in kinds.values() if t in ("response", "revisit"))
    # Nothing else: one warcinfo, the records, their requests, and each snapshot's evidence
    # (its description, provenance and manifest: metadata records named urn:citevault:...).
    evidence = [h for h, _, _ in records if h.get_header("WARC-Type") == "metadata"
                and str(h.get_header("WARC-Target-URI")).startswith("urn:citevault:")]
    snapshots = {h.get_header("WARC-Citevault-Snapshot") for h in evidence}
    assert len(evidence) == 3 * len(snapshots)
    assert len(records) == 1 + len(wanted) + len(requests) + len(evidence)


def test_pages_list_the_article_and_each_cited_page_with_titles(exported: Exported) -> None:
    with zipfile.ZipFile(exported.wacz) as z:
        lines = [json.loads(ln) for ln in z.read("pages/pages.jsonl").decode().splitlines()]
        cdxj = gzip.decompress(z.read("indexes/index.cdx.gz")).decode().splitlines()
    header, pages = lines[0], lines[1:]
    assert header["format"] == "json-pages-1.0"
    site = exported.site
    articles = [p for p in pages if p["url"] == site.article]
    assert len(articles) == 2  # one per snapshot
    assert all(p.get("seed") and p["title"].startswith(site.title) for p in articles)
    urls = {p["url"] for p in pages}
    expected = [u for u in site.cited if u != site.shortener] + [site.redirect_chain[-1]]
    assert set(expected) <= urls
    assert set(site.tweet_links) <= urls
    gov = next(p for p in pages if p["url"] == site.gov_page)
    assert "EPA" in gov["title"]
    assert all(p["ts"].endswith("Z") and p["id"] for p in pages)
    # The CDXJ index covers every page at its timestamp.
    indexed = {(json.loads(ln.split(" ", 2)[2])["url"], ln.split(" ", 2)[1]) for ln in cdxj}
    for p in pages:
        ts = p["ts"].replace("-", "").replace(":", "").replace("T", "").rstrip("Z")
        assert (p["url"], ts) in indexed


def test_pages_of_dead_links_are_titled_by_anchor_text(exported: Exported) -> None:
    """The cited page that answered 404 is listed under the article's anchor text, not under the
    title of its error page."""
    with zipfile.ZipFile(exported.wacz) as z:
        pages = [json.loads(ln) for ln in z.read("pages/pages.jsonl").decode().splitlines()[1:]]
    gone = [p for p in pages if p["url"] == exported.site.not_found]
    assert gone and all(p["status"] == 404 for p in gone)
    assert {p["title"] for p in gone} == {"an earlier analysis published by an industry trade group"}
    assert not any("not found" in p["title"].lower() for p in pages)


def test_export_errors(exported: Exported, tmp_path: Path) -> None:
    archive = Archive(exported.settings)
    try:
        with pytest.raises(NotFound, match="no source with id 999"):
            export_wacz(archive, 999, tmp_path / "x.wacz")
        with pytest.raises(NotFound, match="no archived records"):
            export_wacz(archive, exported.dead_id, tmp_path / "x.wacz")
        with pytest.raises(BadInput, match="cannot write"):
            export_wacz(archive, exported.source_id, tmp_path / "missing" / "x.wacz")
    finally:
        archive.close()
    assert list(tmp_path.iterdir()) == []


# -- CLI -----------------------------------------------------------------------------------------------
def run(exported: Exported, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    monkeypatch.setenv("CITEVAULT_HOME", str(exported.home))
    return CliRunner().invoke(get_app(), list(args))


def test_cli_export(exported: Exported, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    out = tmp_path / "cli.wacz"
    result = run(exported, monkeypatch, "export", str(exported.source_id), "--wacz", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    # Compared without whitespace: the line is wrapped at the console width, which a long path reaches.
    said = "".join(result.stderr.split())
    assert "".join(str(out).split()) in said and "WARCrecords" in said
    assert validate(out).returncode == 0
    # Apart from its own fresh warcinfo record, the WARC is the same as any other export's.
    (data_a, recs_a), (data_b, recs_b) = warc_records(out), warc_records(exported.wacz)
    assert data_a[recs_a[1][1]:] == data_b[recs_b[1][1]:]


def test_cli_export_errors(exported: Exported, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cases = [
        (("export", "999", "--wacz", str(tmp_path / "a.wacz")), "no source with id 999"),
        (("export", str(exported.dead_id), "--wacz", str(tmp_path / "b.wacz")), "no archived records"),
        (("export", str(exported.source_id), "--wacz", str(tmp_path / "no" / "c.wacz")), "cannot write"),
        (("export", str(exported.source_id), "--wacz", str(tmp_path)), "is a directory"),
    ]
    for args, message in cases:
        result = run(exported, monkeypatch, *args)
        assert result.exit_code == 2, (args, result.stderr)
        assert result.stdout == "" and result.stderr.count("\n") == 1 and message in result.stderr
    assert list(tmp_path.iterdir()) == []
    missing = run(exported, monkeypatch, "export", str(exported.source_id))
    assert missing.exit_code == 2 and "--wacz" in missing.stderr


# -- API -----------------------------------------------------------------------------------------------
def test_api_wacz(exported: Exported, tmp_path: Path) -> None:
    with TestClient(create_app(exported.settings)) as client:
        r = client.get(f"/api/sources/{exported.source_id}/wacz")
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/zip"
        assert f'citevault-source-{exported.source_id}.wacz' in r.headers["content-disposition"]
        path = tmp_path / "api.wacz"
        path.write_bytes(r.content)
        assert validate(path).returncode == 0
        assert len(warc_records(path)[1]) == len(warc_records(exported.wacz)[1])
        r = client.get("/api/sources/999/wacz")
        assert r.status_code == 404 and r.json() == {"error": "no source with id 999"}
        r = client.get(f"/api/sources/{exported.dead_id}/wacz")
        assert r.status_code == 404 and "no archived records" in r.json()["error"]
