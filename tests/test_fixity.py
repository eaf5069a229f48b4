"""`verify` catches altered records; `reindex` rebuilds the capture index from WARC files alone."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from citevault.cli import get_app
from tests.fakeweb import FakeWeb, NewsSite


def run(*args: str) -> Any:
    return CliRunner().invoke(get_app(), list(args))


def test_verify_and_reindex(news: NewsSite, fakeweb: FakeWeb, home: Path, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    first = json.loads(run("add", news.article, "--depth", "0", "--json").stdout)
    assert run("add", news.article, "--depth", "0").exit_code == 0  # revisits too
    ok = run("verify", "--json")
    assert ok.exit_code == 0 and json.loads(ok.stdout) == {"ok": True, "problems": []}
    roles = {c["url"]: c["role"] for c in first["sources"][0]["snapshot"]["captures"]}

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
