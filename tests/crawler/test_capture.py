"""End-to-end capture through the CLI on the fake news site: WARC contents, index rows, scope."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner
from warcio.archiveiterator import ArchiveIterator

from citevault.cli import get_app
from citevault.config import Settings
from citevault.storage.db import open_index
from citevault.storage.models import Capture, Link
from tests.fakeweb import FakeWeb, NewsSite, build_news_site


@pytest.fixture
def web(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeWeb, NewsSite]]:
    with FakeWeb() as fw:
        news = build_news_site(fw)
        for k, v in fw.proxy_env().items():
            monkeypatch.setenv(k, v)
        monkeypatch.setenv("CITEVAULT_ALLOW_PRIVATE_NETWORKS", "1")
        yield fw, news


def run(*args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(get_app(), list(args), input=input)


def add_json(*args: str) -> dict[str, Any]:
    result = run("add", *args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def by_url(doc: dict[str, Any], i: int = 0) -> dict[str, dict[str, Any]]:
    return {c["url"]: c for c in doc["sources"][i]["snapshot"]["captures"]}


def warc_files(home: Path) -> list[Path]:
    return sorted((home / "warcs").glob("*"))


def test_article_with_citations_and_requisites(web: tuple[FakeWeb, NewsSite], home: Path) -> None:
    fw, news = web
    doc = add_json(news.article)
    snap = doc["sources"][0]["snapshot"]
    caps = by_url(doc)
    assert snap["state"] == "done"
    assert caps[news.article]["role"] == "seed" and caps[news.article]["status"] == 200
    # Every citation in the main content, the dead one included (a 404 is evidence).
    for url in [news.gov_page, news.gzip_page, news.slow_page,
                news.redirect_chain[-1]]:
        assert caps[url]["role"] == "cited" and caps[url]["status"] == 200, url
    assert caps[news.not_found]["status"] == 404 and caps[news.not_found]["role"] == "cited"
    # The shortener: each hop archived as a redirect, then followed.
    for hop in news.redirect_chain[:-1]:
        assert caps[hop]["role"] == "redirect" and 300 <= caps[hop]["status"] < 400, hop
    # Tweets: the status pages and their oEmbed JSON; YouTube likewise.
    for link in news.tweet_links:
        assert caps[link]["status"] == 200
    for url in news.oembed:
        assert caps[url]["status"] == 200 and caps[url]["mime"] == "application/json", url
    # Requisites of the article (CSS, @import-ed CSS, fonts from CSS, srcset, favicon, scripts)
    # and of each cited page.
    for url in news.requisites:
        assert caps[url]["role"] == "requisite" and caps[url]["status"] == 200, url
    for page, reqs in news.cited_requisites.items():
        for url in reqs:
            assert url in caps, f"{url} (requisite of {page}) not captured"
    # Navigation, footer, sidebar and ads: recorded as links, never fetched.
    for url in news.navigation + news.ads:
        assert fw.hits(url) == 0, url
        assert url not in caps
    settings = Settings()
    index = open_index(settings.effective_database_url)
    with index.session() as s:
        seed_id = s.query(Capture.id).filter(Capture.url == news.article).scalar()
        kinds = {u: k for u, k in s.query(Link.url, Link.kind).filter(Link.capture_id == seed_id)}
    assert all(kinds[u] == "navigation" for u in news.navigation)
    assert all(kinds[u] == "embed" for u in news.ads)
    assert kinds[news.gzip_page] == "cited"
    for c in caps.values():
        assert c["error"] is None and len(c["timestamp"]) == 14 and c["sha256"]


def test_warc_records_match_index_and_wire(web: tuple[FakeWeb, NewsSite], home: Path) -> None:
    fw, news = web
    doc = add_json(news.article)
    files = warc_files(home)
    assert files and all(f.name.endswith(".warc.gz") for f in files), "no .open file left behind"
    for f in files:
        warcio = str(Path(sys.executable).with_name("warcio"))
        check = subprocess.run([warcio, "check", "-v", str(f)], capture_output=True)
        assert check.returncode == 0, check.stdout + check.stderr
    # warcinfo first, WARC/1.1, request records concurrent to their responses.
    with open(files[0], "rb") as fh:
        records = [(r.rec_type, r.rec_headers) for r in ArchiveIterator(fh)]
    assert records[0][0] == "warcinfo"
    assert all(h.protocol == "WARC/1.1" for _, h in records)
    ids = {h.get_header("WARC-Record-ID") for t, h in records if t == "response"}
    concurrent = [h.get_header("WARC-Concurrent-To") for t, h in records if t == "request"]
    assert concurrent and set(concurrent) <= ids
    # Every index row points at a complete record of its URL.
    for c in doc["sources"][0]["snapshot"]["captures"]:
        with open(home / "warcs" / c["warc"], "rb") as fh:
            fh.seek(c["offset"])
            blob = fh.read(c["length"])
        rec = next(iter(ArchiveIterator(io.BytesIO(blob))))
        assert rec.rec_type == "response"
        assert rec.rec_headers.get_header("WARC-Target-URI") == c["url"]
        assert rec.http_headers.get_statuscode() == str(c["status"])
    # The gzip page is stored as sent: compressed bytes, Content-Encoding kept.
    gz = by_url(doc)[news.gzip_page]
    with open(home / "warcs" / gz["warc"], "rb") as fh:
        fh.seek(gz["offset"])
        rec = next(iter(ArchiveIterator(fh)))
        assert rec.http_headers.get_header("Content-Encoding") == "gzip"
        body = rec.raw_stream.read()
    assert gzip.decompress(body) == fw.lookup(news.gzip_page).body  # type: ignore[union-attr]
    # The chunked page is de-chunked, its headers fixed.
    slow = by_url(doc)[news.slow_page]
    with open(home / "warcs" / slow["warc"], "rb") as fh:
        fh.seek(slow["offset"])
        rec = next(iter(ArchiveIterator(fh)))
        body = rec.raw_stream.read()
        assert rec.http_headers.get_header("Transfer-Encoding") is None
        assert rec.http_headers.get_header("Content-Length") == str(len(body))
    assert body == fw.lookup(news.slow_page).body  # type: ignore[union-attr]


def test_depth_zero_and_scope_all(web: tuple[FakeWeb, NewsSite], home: Path) -> None:
    fw, news = web
    caps = by_url(add_json(news.article, "--depth", "0"))
    assert {c["role"] for c in caps.values()} == {"seed", "requisite"}
    assert news.gzip_page not in caps
    caps = by_url(add_json(news.article, "--scope", "all"))
    for url in news.navigation:
        assert url in caps, url
    assert news.gzip_page in caps


def test_get_history_and_revisit(web: tuple[FakeWeb, NewsSite], home: Path, tmp_path: Path) -> None:
    fw, news = web
    first = by_url(add_json(news.article, "--depth", "0"))
    second = by_url(add_json(news.article, "--depth", "0"))
    assert first[news.article]["sha256"] == second[news.article]["sha256"]
    out = tmp_path / "page.html"
    assert run("get", news.article, "-o", str(out)).exit_code == 0
    assert out.read_bytes() == fw.lookup(news.article).body  # type: ignore[union-attr]
    hist = json.loads(run("history", news.article, "--json").stdout)["captures"]
    assert [h["record_type"] for h in hist] == ["response", "revisit"]
    assert hist[0]["timestamp"] <= hist[1]["timestamp"]
    # An unchanged recapture costs a fraction of the first: revisits carry no payload.
    assert second[news.article]["length"] < first[news.article]["length"]
    at = run("get", news.article, "--at", hist[0]["timestamp"], "-o", str(out))
    assert at.exit_code == 0 and out.read_bytes() == fw.lookup(news.article).body  # type: ignore[union-attr]


def test_get_decodes_content_encoding(web: tuple[FakeWeb, NewsSite], tmp_path: Path) -> None:
    fw, news = web
    add_json(news.gzip_page, "--depth", "0")
    out = tmp_path / "wire.html"
    assert run("get", news.gzip_page, "-o", str(out)).exit_code == 0
    assert out.read_bytes() == fw.lookup(news.gzip_page).body  # type: ignore[union-attr]


def test_from_file_many_urls(web: tuple[FakeWeb, NewsSite], tmp_path: Path) -> None:
    fw, _ = web
    urls = [f"https://many{i % 7}.example.test/page/{i}" for i in range(42)]
    for u in urls:
        fw.add(u, f"<html><head><title>{u}</title></head><body><p>{u}</p></body></html>")
    listing = tmp_path / "urls.txt"
    listing.write_text("# a comment\n" + "\n".join(urls) + "\n\n")
    doc = add_json("--from-file", str(listing), "--depth", "0")
    assert [s["url"] for s in doc["sources"]] == urls
    assert all(s["snapshot"]["state"] == "done" for s in doc["sources"])
    result = run("add", "-", "--depth", "0", "--json", input="\n".join(urls[:3]))
    assert result.exit_code == 0, result.stderr
    assert len(json.loads(result.stdout)["sources"]) == 3
    assert [s["id"] for s in json.loads(result.stdout)["sources"]] == [1, 2, 3]  # one source per URL
    listed = json.loads(run("list", "--json").stdout)["sources"]
    assert len(listed) == len(urls)


def test_warc_ip_address_only_when_fetched_directly(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEVAULT_ALLOW_PRIVATE_NETWORKS", "1")
    with FakeWeb() as fw:
        direct = f"http://127.0.0.1:{fw.port}/direct"
        fw.add(direct, "<p>direct</p>")
        fw.add("https://proxied.example.test/", "<p>proxied</p>")
        add_json(direct, "--depth", "0")
        for k, v in fw.proxy_env().items():
            monkeypatch.setenv(k, v)
        add_json("https://proxied.example.test/", "--depth", "0")
    ips = {}
    for f in warc_files(home):
        with open(f, "rb") as fh:
            for rec in ArchiveIterator(fh):
                if rec.rec_type == "response":
                    ips[rec.rec_headers.get_header("WARC-Target-URI")] = rec.rec_headers.get_header(
                        "WARC-IP-Address")
    assert ips[direct] == "127.0.0.1"
    assert ips["https://proxied.example.test/"] is None  # the peer was the proxy, not the site
