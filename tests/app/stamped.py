"""A test archive with evidence: the fake news article captured with a local TSA stamping its
manifest, and exported as a signed WACZ (shared by the evidence tests' module fixtures)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from citevault.cli import get_app
from tests.app.tsa import LocalTSA
from tests.conftest import route_through
from tests.fakeweb import FakeWeb, build_news_site

__all__ = ["Stamped", "stamped_export", "use_tsa"]


def use_tsa(tsa: LocalTSA, mp: pytest.MonkeyPatch) -> None:
    """Captures get their manifests stamped by `tsa`, reached directly (not through the proxy)."""
    mp.setenv("CITEVAULT_TSA_URLS", tsa.url)
    mp.setenv("NO_PROXY", "127.0.0.1")
    mp.setenv("no_proxy", "127.0.0.1")


@dataclass(frozen=True)
class Stamped:
    home: Path
    wacz: Path
    ca: Path  # the TSA's trust anchor, kept after the TSA is gone
    tsa: LocalTSA


@contextmanager
def stamped_export(base: Path, fakeweb: FakeWeb) -> Iterator[Stamped]:
    with LocalTSA() as tsa, pytest.MonkeyPatch.context() as mp:
        mp.setenv("CITEVAULT_HOME", str(base / "home"))
        route_through(fakeweb, mp)
        use_tsa(tsa, mp)
        news = build_news_site(fakeweb)
        added = CliRunner().invoke(get_app(), ["add", news.article, "--depth", "0"])
        assert added.exit_code == 0, added.stderr
        wacz = base / "source-1.wacz"
        exported = CliRunner().invoke(get_app(), ["export", "1", "--wacz", str(wacz)])
        assert exported.exit_code == 0, exported.stderr
        shutil.copy(tsa.ca_file, base / "tsa-ca.pem")
        yield Stamped(base / "home", wacz, base / "tsa-ca.pem", tsa)
