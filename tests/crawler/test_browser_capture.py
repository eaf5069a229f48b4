"""Browser capture through `citevault add` on a site built the modern way (tests/sites/modern.py):
what scripts fetched is archived raw, the screenshot and rendered DOM are recorded, citations
inserted by scripts are followed, and plain HTML stays on the HTTP crawler."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner
from warcio.archiveiterator import ArchiveIterator

from citevault.cli import get_app
from citevault.storage.db import open_index
from citevault.storage.models import Capture
from tests.crawler.conftest import add_json
from tests.fakeweb import FakeWeb
from tests.sites.modern import TWEET_AUTHOR, TWEET_HANDLE, TWEET_TEXT, ModernSite

pytestmark = pytest.mark.slow


def captures(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["url"]: c for c in doc["sources"][0]["snapshot"]["captures"]}


def record_at(home: Path, cap: dict[str, Any]) -> tuple[Any, bytes]:
    with open(home / "warcs" / cap["warc"], "rb") as fh:
        fh.seek(cap["offset"])
        rec = next(iter(ArchiveIterator(fh)))
        return rec, rec.raw_stream.read()


def test_script_built_article_is_captured_as_seen(modern: ModernSite, web: FakeWeb, home: Path) -> None:
    doc = add_json(modern.article)
    snap = doc["sources"][0]["snapshot"]
    caps = captures(doc)
    assert snap["state"] == "done", [c for c in caps.values() if c["error"]]
    assert caps[modern.article]["via"] == "browser"
    # What the scripts fetched, through the browser: the JSON API, both images, the ad frame.
    api = next(c for u, c in caps.items() if u.startswith(modern.api_json))
    assert api["status"] == 200 and api["via"] == "browser" and api["role"] == "requisite"
    for url in (modern.hero, modern.lazy, modern.ad_frame, modern.widgets_json):
        assert caps[url]["status"] == 200 and caps[url]["via"] == "browser", url
    # The JSON's record keeps Content-Encoding: gzip and the gzip bytes as sent.
    rec, payload = record_at(home, api)
    assert rec.http_headers.get_header("Content-Encoding") == "gzip"
    assert payload[:2] == b"\x1f\x8b" and json.loads(gzip.decompress(payload))["sources"] == modern.cited
    # Citations inserted by script: found in the rendered DOM, followed, on the HTTP path.
    for url in modern.cited:
        assert caps[url]["role"] == "cited" and caps[url]["status"] == 200 and caps[url]["via"] == "http"
    # The embedded tweet is cited: its status page through the browser (its API JSON archived),
    # and its oEmbed JSON.
    assert caps[modern.tweet]["via"] == "browser"
    assert caps[modern.tweet_api]["status"] == 200
    assert caps[modern.tweet_oembed]["status"] == 200
    # The screenshot and the rendered DOM, as resource records tied to the page.
    view = caps[f"urn:view:{modern.article}"]
    dom = caps[f"urn:dom:{modern.article}"]
    assert view["mime"] == "image/png" and view["record_type"] == "resource"
    rec, png = record_at(home, view)
    assert png.startswith(b"\x89PNG") and rec.rec_type == "resource"
    _, html = record_at(home, dom)
    assert modern.article_text.encode() in html and TWEET_TEXT.encode() in html
    assert f"urn:view:{modern.tweet}" in caps
    # Each https origin's upstream TLS facts, in a metadata record of the snapshot (the fake
    # web's CA is no public one: recorded as not validated, with the reason).
    tls = tls_records(home)
    assert len(tls) == 1
    origin = tls[0]["origins"]["https://modern.test"]
    assert origin["validated"] is False and origin["errors"] and origin["tls_version"].startswith("TLS")
    assert origin["chain_pem"][0].startswith("-----BEGIN CERTIFICATE-----")
    assert "CN=modern.test" in origin["subject"]
    # An origin only the browser contacted (the ad frame a script adds): its requests go through
    # the crawl's downloader, whose https handler records the handshake (provenance.add_tls).
    ads = tls[0]["origins"]["https://ads.adnet.test"]
    assert ads["tls_version"].startswith("TLS") and "CN=ads.adnet.test" in ads["subject"]
    result = CliRunner().invoke(get_app(), ["verify"])
    assert result.exit_code == 0, result.output


def tls_records(home: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted((home / "warcs").glob("*.warc.gz")):
        with open(path, "rb") as fh:
            for rec in ArchiveIterator(fh):
                uri = rec.rec_headers.get_header("WARC-Target-URI") or ""
                if rec.rec_type == "metadata" and uri.startswith("urn:citevault:tls:"):
                    found.append(json.loads(rec.raw_stream.read()))
    return found


def test_plain_article_stays_on_http(modern: ModernSite, home: Path) -> None:
    doc = add_json(modern.plain_article)
    caps = captures(doc)
    assert caps[modern.plain_article]["via"] == "http"
    assert not any(u.startswith("urn:") for u in caps)
    assert caps[modern.cited[0]]["role"] == "cited"


def test_tweet_seed_gets_browser_capture_and_oembed(
    modern: ModernSite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CITEVAULT_BROWSER_PDF", "1")
    doc = add_json(modern.tweet)
    caps = captures(doc)
    assert caps[modern.tweet]["via"] == "browser"
    assert caps[f"urn:pdf:{modern.tweet}"]["mime"] == "application/pdf"
    assert caps[modern.tweet_api]["status"] == 200
    assert caps[modern.tweet_oembed]["status"] == 200
    # Cited by its author, handle and text, not by the status page's title ("X").
    result = CliRunner().invoke(get_app(), ["cite", str(doc["sources"][0]["id"]), "--format", "text"])
    assert result.exit_code == 0, result.output
    assert f"{TWEET_AUTHOR} (@{TWEET_HANDLE}): {TWEET_TEXT}" in result.stdout
    # The WARC files alone say how each capture was taken: a fresh index rebuilt from them agrees.
    monkeypatch.setenv("CITEVAULT_DATABASE_URL", f"sqlite:///{tmp_path / 'rebuilt.db'}")
    result = CliRunner().invoke(get_app(), ["reindex"])
    assert result.exit_code == 0, result.output
    index = open_index(f"sqlite:///{tmp_path / 'rebuilt.db'}")
    with index.session() as s:
        rebuilt = {c.url: (c.via, c.record_type, c.mime) for c in s.scalars(select(Capture))}
    index.dispose()
    for url, cap in caps.items():
        if cap["warc"]:
            assert rebuilt[url] == (cap["via"], cap["record_type"], cap["mime"]), url
