"""Bearer tokens: created and shown once, stored as a hash, required for writes once one exists,
for reads too when the setting says so; the `token` commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from citevault.archive import Archive
from citevault.auth import check_access, checks_tokens, create_token, hash_token, revoke_token
from citevault.cli import get_app
from citevault.config import Settings
from citevault.storage.models import ApiToken
from citevault.web import create_app

STORY = {"url": "https://example.com/story", "depth": 0}


def client_for(settings: Settings) -> Iterator[tuple[TestClient, Archive]]:
    app = create_app(settings)
    with TestClient(app) as client:
        yield client, app.state.archive
    app.state.archive.close()


@pytest.fixture
def api(home: Path) -> Iterator[tuple[TestClient, Archive]]:
    yield from client_for(Settings(home=home))


@pytest.fixture
def closed_api(home: Path) -> Iterator[tuple[TestClient, Archive]]:
    yield from client_for(Settings(home=home, read_token_required=True))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_writes_are_open_until_a_token_exists(api: tuple[TestClient, Archive]) -> None:
    client, archive = api
    assert client.post("/api/sources", json=STORY).status_code == 202
    token = create_token(archive.index, "newsroom")
    res = client.post("/api/sources", json=STORY)
    assert res.status_code == 401
    assert "need a token" in res.json()["error"]
    for header in ({"Authorization": "Bearer cvt_wrong"}, {"Authorization": "Basic dXNlcjpwdw=="},
                   {"Authorization": "Bearer"}):
        res = client.post("/api/sources", json=STORY, headers=header)
        assert res.status_code == 401, header
        assert set(res.json()) == {"error"}
    assert client.post("/api/sources", json=STORY, headers=bearer(token)).status_code == 202
    # Reads stay public, and a bad header does not matter there.
    assert client.get("/api/sources").status_code == 200
    assert client.get("/api/sources", headers={"Authorization": "Basic x"}).status_code == 200
    assert client.get("/healthz").status_code == 200
    [story] = client.get("/api/sources").json()["sources"]  # one source per URL, two snapshots
    assert story["snapshots"] == 2
    # Revoked: refused; the last one revoked opens writes again.
    assert revoke_token(archive.index, "newsroom") == 0
    res = client.post("/api/sources", json=STORY, headers=bearer(token))
    assert res.status_code == 202


def test_revoked_token_is_refused_while_others_exist(api: tuple[TestClient, Archive]) -> None:
    client, archive = api
    old = create_token(archive.index, "old")
    new = create_token(archive.index, "new")
    assert revoke_token(archive.index, "old") == 1
    res = client.post("/api/sources", json=STORY, headers=bearer(old))
    assert res.status_code == 401 and "revoked" in res.json()["error"]
    assert client.post("/api/sources", json=STORY, headers=bearer(new)).status_code == 202


def test_closed_reads_need_a_token(closed_api: tuple[TestClient, Archive]) -> None:
    client, archive = closed_api
    res = client.get("/api/sources")
    assert res.status_code == 401 and "token create" in res.json()["error"]  # none exists yet
    assert client.post("/api/sources", json=STORY).status_code == 401
    token = create_token(archive.index, "reader")
    for path in ("/api/sources", "/metrics", "/api/schedules"):
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers=bearer(token)).status_code == 200, path
    assert client.get("/healthz").status_code == 200


class _NoIndex:
    """An index that counts the sessions asked of it and refuses them."""

    def __init__(self) -> None:
        self.asked = 0

    def session(self) -> Any:
        self.asked += 1
        raise AssertionError("the tokens were read")


@pytest.mark.parametrize("write", [False, True])
@pytest.mark.parametrize("reads_closed", [False, True])
def test_checks_tokens_says_when_check_access_reads_them(write: bool, reads_closed: bool) -> None:
    """The app-wide dependency (web/deps.py) skips its hop to a thread when `checks_tokens` says
    no: then check_access must let the request through without the database."""
    index = _NoIndex()
    if checks_tokens(write=write, reads_closed=reads_closed):
        with pytest.raises(AssertionError):
            check_access(index, None, write=write, reads_closed=reads_closed)  # type: ignore[arg-type]
        assert index.asked == 1
    else:
        check_access(index, None, write=write, reads_closed=reads_closed)  # type: ignore[arg-type]
        assert index.asked == 0 and not write and not reads_closed


def run(*args: str) -> Any:
    return CliRunner().invoke(get_app(), list(args))


def test_token_commands(home: Path) -> None:
    res = run("token", "create", "newsroom")
    assert res.exit_code == 0, res.output
    token = res.stdout.strip()
    assert token.startswith("cvt_") and len(token) > 40 and "\n" not in token
    assert "shown only this once" in res.stderr
    archive = Archive(Settings(home=home))
    with archive.index.session() as s:
        [row] = s.scalars(select(ApiToken)).all()
        assert row.token_hash == hash_token(token) and row.name == "newsroom"
    # Only the hash is stored: the token appears nowhere in the database file.
    archive.close()
    stored = b"".join(f.read_bytes() for f in home.glob("citevault.db*"))  # with the WAL
    assert hash_token(token).encode() in stored and token.encode() not in stored
    res = run("token", "create", "newsroom")
    assert res.exit_code == 2 and "exists already" in res.stderr
    listing = run("token", "list", "--json")
    assert listing.exit_code == 0
    [entry] = json.loads(listing.stdout)["tokens"]
    assert entry["name"] == "newsroom" and entry["revoked_at"] is None
    assert token not in listing.stdout
    res = run("token", "revoke", "newsroom")
    assert res.exit_code == 0 and "open to anyone again" in res.stderr
    assert json.loads(run("token", "list", "--json").stdout)["tokens"][0]["revoked_at"]
    res = run("token", "revoke", "nobody")
    assert res.exit_code == 2 and "no token named" in res.stderr
    assert run("token", "create", " ").exit_code == 2
