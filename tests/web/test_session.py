"""Logging in to the web interface: a token gives a signed, expiring session cookie (HttpOnly,
SameSite=Strict, Secure on https) that opens reads and the interface's forms but not the API's
writes; a revoked token ends its sessions; logging out drops the cookie; read_token_required
sends a browser to the login page; cross-site posts stay refused."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response  # what starlette's TestClient returns

from citevault.auth import create_token, revoke_token
from citevault.config import Settings
from citevault.web import create_app
from citevault.web.deps import COOKIE
from citevault.web.session import MAX_AGE, Sessions
from tests.web.conftest import archive_of

SOURCE = {"url": "https://example.com/story"}


def _client(home: Path, *, reads_closed: bool = False, base_url: str = "http://testserver") -> TestClient:
    app = create_app(Settings(home=home, read_token_required=reads_closed))
    return TestClient(app, base_url=base_url)


def _login(client: TestClient, token: str, next_url: str = "") -> str:
    res = client.post("/ui/login", data={"token": token, "next": next_url}, follow_redirects=False)
    assert res.status_code == 303, res.text
    return str(res.headers["location"])


def test_login_sets_a_signed_expiring_cookie_and_opens_the_forms(client: TestClient) -> None:
    token = create_token(archive_of(client).index, "editor")
    assert client.post("/ui/add", data=SOURCE, follow_redirects=False).status_code == 401
    bad = client.post("/ui/login", data={"token": "cvt_wrong"}, follow_redirects=False)
    assert bad.status_code == 401 and "invalid token" in bad.text and COOKIE not in bad.cookies
    assert _login(client, token) == "/"
    res = client.post("/ui/login", data={"token": token}, follow_redirects=False)
    cookie = res.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and token not in cookie
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "max-age", "path", "samesite"} <= flags and "secure" not in flags
    assert "samesite=strict" in cookie.lower() and "max-age=43200" in cookie.lower()

    res = client.post("/ui/add", data=SOURCE, follow_redirects=False)
    assert res.status_code == 303 and res.headers["location"] == "/ui/sources/1"
    # The API keeps bearer tokens: the cookie does not write through it.
    assert client.post("/api/sources", json=SOURCE).status_code == 401
    assert client.post("/api/sources", json=SOURCE,
                       headers={"Authorization": f"Bearer {token}"}).status_code == 202
    page = client.get("/")
    assert 'action="/ui/logout"' in page.text and "log in</a> before archiving" not in page.text


def _add_with(client: TestClient, cookie: str) -> Response:
    return client.post("/ui/add", data=SOURCE, follow_redirects=False,
                       headers={"Cookie": f"{COOKIE}={cookie}"})


def test_a_forged_or_stale_cookie_is_no_session(client: TestClient) -> None:
    token = create_token(archive_of(client).index, "editor")
    _login(client, token)
    value = client.cookies[COOKIE]
    client.cookies.clear()
    payload, _, signature = value.rpartition(".")
    for forged in (f"{payload}.{signature[::-1]}", "e30." + signature, "garbage", ""):
        assert _add_with(client, forged).status_code == 401, forged
    assert _add_with(client, value).status_code == 303
    # Revoking the token ends every session made with it.
    create_token(archive_of(client).index, "other")
    revoke_token(archive_of(client).index, "editor")
    res = _add_with(client, value)
    assert res.status_code == 401 and "revoked" in res.text


def test_logout_drops_the_cookie(client: TestClient) -> None:
    token = create_token(archive_of(client).index, "editor")
    _login(client, token)
    res = client.post("/ui/logout", follow_redirects=False)
    assert res.status_code == 303 and res.headers["location"] == "/ui/login"
    assert f'{COOKIE}=""' in res.headers["set-cookie"] and "max-age=0" in res.headers["set-cookie"].lower()
    assert COOKIE not in client.cookies
    assert client.post("/ui/add", data=SOURCE, follow_redirects=False).status_code == 401


def test_closed_reads_send_a_browser_to_the_login_and_back(home: Path) -> None:
    with _client(home, reads_closed=True) as client:
        token = create_token(client.app.state.archive.index, "reader")  # type: ignore[attr-defined]
        res = client.get("/ui/sources/1?snapshot=2", follow_redirects=False)
        assert res.status_code == 303
        assert res.headers["location"] == "/ui/login?next=/ui/sources/1%3Fsnapshot%3D2"
        assert client.get("/api/sources").status_code == 401  # JSON for the API, no redirect
        assert client.get("/api/sources").json()["error"].startswith("reads need a token")
        # The way in stays open: the login page and its stylesheet.
        assert client.get("/ui/login").status_code == 200
        assert client.get("/ui/static/style.css").status_code == 200
        assert _login(client, token, "/ui/search?url=x") == "/ui/search?url=x"
        assert client.get("/").status_code == 200
        assert client.get("/api/sources").json() == {"sources": []}  # reads, through the session
        assert client.get("/web/2024/https://example.com/").status_code == 404  # not a 401
        client.app.state.archive.close()  # type: ignore[attr-defined]


def test_login_goes_back_only_to_this_site(client: TestClient) -> None:
    token = create_token(archive_of(client).index, "editor")
    for evil in ("//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        assert _login(client, token, evil) == "/"


def test_the_cookie_is_secure_over_https(home: Path) -> None:
    with _client(home, base_url="https://testserver") as client:
        token = create_token(client.app.state.archive.index, "editor")  # type: ignore[attr-defined]
        res = client.post("/ui/login", data={"token": token}, follow_redirects=False)
        assert "; secure" in res.headers["set-cookie"].lower()
        client.app.state.archive.close()  # type: ignore[attr-defined]


def test_login_and_logout_refuse_cross_site_posts(client: TestClient) -> None:
    token = create_token(archive_of(client).index, "editor")
    for path, form in (("/ui/login", {"token": token}), ("/ui/logout", {})):
        res = client.post(path, data=form, headers={"Origin": "https://evil.example"}, follow_redirects=False)
        assert res.status_code == 403 and "refused" in res.text
    assert COOKIE not in client.cookies


def test_the_signing_key_is_kept_private(home: Path) -> None:
    with _client(home) as client:
        client.app.state.archive.close()  # type: ignore[attr-defined]
    key = home / "session.key"
    assert key.stat().st_mode & 0o077 == 0 and len(key.read_bytes()) == 64
    with _client(home) as again:  # the same key on the next start: sessions survive restarts
        again.app.state.archive.close()  # type: ignore[attr-defined]
    assert len(key.read_bytes()) == 64


def test_sessions_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    sessions = Sessions(b"k" * 32)
    value = sessions.issue("abc")
    assert sessions.read(value) == "abc"
    later = time.time() + MAX_AGE + 5
    monkeypatch.setattr(time, "time", lambda: later)
    assert sessions.read(value) is None
