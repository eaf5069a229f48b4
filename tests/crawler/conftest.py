"""Fixtures of the browser capture tests: the modern fake site with Chromium required."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from citevault.cli import get_app
from citevault.crawler.browser import chromium_path
from tests.conftest import IN_CI
from tests.fakeweb import FakeWeb
from tests.sites.modern import ModernSite, build_modern_site


@pytest.fixture
def modern(web: FakeWeb, monkeypatch: pytest.MonkeyPatch, modern_chromium: str) -> ModernSite:
    """The modern site on this test's fake web, browser capture on (auto); skipped with the
    reason where Chromium is missing, failed under CI=true."""
    monkeypatch.setenv("CITEVAULT_BROWSER", "auto")
    return build_modern_site(web)


@pytest.fixture
def modern_chromium() -> str:
    """The Chromium executable, or skip (fail under CI=true)."""
    found = chromium_path()
    if found is None:
        if IN_CI:
            pytest.fail("Chromium is missing at /usr/bin/chromium (CI=true: browser tests must run)")
        pytest.skip("Chromium is not installed (/usr/bin/chromium): browser capture not tested")
    return found


def add_json(*args: str, codes: tuple[int, ...] = (0,)) -> dict[str, Any]:
    """`citevault add ... --json`, its exit code one of `codes`."""
    result = CliRunner().invoke(get_app(), ["add", *args, "--json"])
    assert result.exit_code in codes, result.output
    return json.loads(result.stdout)
