"""Browser sign-in: a person logs in once with an API token and gets a signed, expiring session
cookie (HttpOnly, SameSite=Strict, Secure on https) that carries the token's hash, so revoking the
token ends the session. The API itself keeps bearer tokens; the cookie opens reads everywhere and
writes only through the interface's forms, which also check the origin (forms.py).

    GET  /ui/login     the login form (open even when reads need a token)
    POST /ui/login     token -> session cookie, then back to `next`
    POST /ui/logout    drops the cookie
"""

from __future__ import annotations

import os
import secrets
from functools import partial
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from citevault.storage.errors import CitevaultError

from ..auth import tokens_exist, verify_token
from .deps import COOKIE, get_archive, get_root, get_settings
from .forms import read_form, same_origin
from .pages import render_page

__all__ = ["COOKIE", "MAX_AGE", "Sessions", "load_secret", "router"]

MAX_AGE = 12 * 3600  # a working day: long enough to log in once, short enough to expire unattended
_KEY_FILE = "session.key"

router = APIRouter(include_in_schema=False)


class Sessions:
    """Signs and reads session cookies with a secret kept in the data directory."""

    def __init__(self, secret: bytes) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="citevault-session")

    def issue(self, token_hash: str) -> str:
        return self._serializer.dumps({"h": token_hash})

    def read(self, value: str | None) -> str | None:
        """The token hash in a valid, unexpired cookie, else None."""
        if not value:
            return None
        try:
            data = self._serializer.loads(value, max_age=MAX_AGE)
        except BadSignature:  # also SignatureExpired
            return None
        digest = data.get("h") if isinstance(data, dict) else None
        return digest if isinstance(digest, str) else None


def load_secret(home: Path) -> bytes:
    """The signing secret, made on first use and readable only by its owner. Every process of one
    service (API replicas sharing the data directory) signs with the same key."""
    path = home / _KEY_FILE
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    home.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


def _next(request: Request, value: str | None) -> str:
    """Where to go after logging in: a path on this site only (never another host)."""
    root = get_root(request)
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return f"{root}/"


def _login_page(request: Request, *, error: str | None = None, status: int = 200,
                next_url: str = "") -> HTMLResponse:
    archive = get_archive(request)
    return render_page(request, "login.html", {
        "title": "Log in", "error": error, "next": next_url,
        "tokens_exist": tokens_exist(archive.index),
    }, status=status)


@router.get("/ui/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "") -> HTMLResponse:
    return _login_page(request, next_url=_next(request, next))


async def login(request: Request) -> Response:
    values: dict[str, str] = {}
    try:
        same_origin(request)
        values = await read_form(request)
        digest = await run_in_threadpool(verify_token, get_archive(request).index, values.get("token", ""))
    except CitevaultError as exc:
        return await run_in_threadpool(partial(
            _login_page, request, error=str(exc), status=exc.status_code,
            next_url=_next(request, values.get("next"))))
    response = RedirectResponse(_next(request, values.get("next")), status_code=303)
    sessions: Sessions = request.app.state.sessions
    settings = get_settings(request)
    secure = request.url.scheme == "https" or (settings.public_url or "").startswith("https:")
    response.set_cookie(COOKIE, sessions.issue(digest), max_age=MAX_AGE, path=get_root(request) or "/",
                        httponly=True, samesite="strict", secure=secure)
    return response


async def logout(request: Request) -> Response:
    try:
        same_origin(request)
    except CitevaultError as exc:
        return await run_in_threadpool(partial(_login_page, request, error=str(exc), status=exc.status_code))
    response = RedirectResponse(f"{get_root(request)}/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path=get_root(request) or "/", httponly=True, samesite="strict")
    return response


# Plain Starlette routes: the app-wide `authorize` dependency must not refuse the way in (or out).
router.add_route("/ui/login", login, methods=["POST"], include_in_schema=False)
router.add_route("/ui/logout", logout, methods=["POST"], include_in_schema=False)
