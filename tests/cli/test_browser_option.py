"""`--browser auto|always|never` on `citevault add` and `browser` on the API: validated, kept with
the source for its recaptures, and a clear answer where Chromium is missing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from citevault.cli import get_app
from citevault.config import Settings
from citevault.storage.db import open_index
from citevault.storage.models import Source
from citevault.web import create_app
from tests.fakeweb import FakeWeb
from tests.sites.modern import build_modern_site


def run(*args: str) -> object:
    return CliRunner().invoke(get_app(), list(args))


def sources(home: Path) -> dict[str, str | None]:
    index = open_index(f"sqlite:///{home / 'citevault.db'}")
    try:
        with index.session() as s:
            return {src.url: src.browser for src in s.query(Source)}
    finally:
        index.dispose()


def test_bad_mode_is_a_usage_error(home: Path) -> None:
    result = CliRunner().invoke(get_app(), ["add", "https://example.com/", "--browser", "sometimes"])
    assert result.exit_code == 2
    assert "browser must be one of auto, always, never" in result.stderr
    assert not (home / "citevault.db").exists() or not sources(home)


def test_always_without_chromium_exits_2(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEVAULT_CHROMIUM", str(home / "no-such-chromium"))
    result = CliRunner().invoke(get_app(), ["add", "https://example.com/", "--browser", "always"])
    assert result.exit_code == 2
    assert "--browser always needs Chromium" in result.stderr and len(result.stderr.splitlines()) == 1


def test_auto_without_chromium_falls_back_to_http(
    web: FakeWeb, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = build_modern_site(web)
    monkeypatch.setenv("CITEVAULT_CHROMIUM", str(home / "no-such-chromium"))
    result = CliRunner().invoke(get_app(), ["add", site.article, "--browser", "auto", "--json"])
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("warning: Chromium not found")
    caps = {c["url"]: c for c in json.loads(result.stdout)["sources"][0]["snapshot"]["captures"]}
    assert caps[site.article]["via"] == "http"
    assert not any(u.startswith("urn:") for u in caps)
    assert sources(home) == {site.article: "auto"}  # kept for the source's recaptures


@pytest.fixture
def client(home: Path) -> Iterator[TestClient]:
    app = create_app(Settings(home=home, allow_private_networks=True, workers=0))
    with TestClient(app) as c:
        yield c
    app.state.archive.close()


def test_api_takes_the_browser_mode(client: TestClient, home: Path) -> None:
    bad = client.post("/api/sources", json={"url": "https://example.com/", "browser": "sometimes"})
    assert bad.status_code == 400 and "browser must be one of" in bad.json()["error"]
    ok = client.post("/api/sources", json={"url": "https://example.com/a", "browser": "always"})
    assert ok.status_code == 202, ok.text
    assert sources(home) == {"https://example.com/a": "always"}
