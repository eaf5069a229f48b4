"""Bearer tokens for the HTTP API: created once and shown once, kept only as their sha256.

Writes need a valid token once any (unrevoked) token exists; with `read_token_required` reads
need one too. Framework-free: the web app's dependency (web/deps.py) and the CLI call it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from citevault.storage.db import Index
from citevault.storage.errors import BadInput, NotFound, Unauthorized
from citevault.storage.models import ApiToken, utcnow

__all__ = [
    "check_access",
    "checks_tokens",
    "create_token",
    "hash_token",
    "list_tokens",
    "revoke_token",
    "tokens_exist",
    "verify_token",
]

_PREFIX = "cvt_"



def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(index: Index, name: str) -> str:
    """A new token named `name`; the token itself is returned here and never again."""
    name = name.strip()
    if not name or len(name) > 128:
        raise BadInput("a token name must be 1 to 128 characters")
    token = _PREFIX + secrets.token_urlsafe(32)
    try:
        with index.session() as s:
            if s.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
                raise BadInput(f"a token named {name!r} exists already (revoke it or pick another name)")
            s.add(ApiToken(name=name, token_hash=hash_token(token), created_at=utcnow()))
    except IntegrityError as exc:
        raise BadInput(f"a token named {name!r} exists already") from exc
    return token


def list_tokens(index: Index) -> list[dict[str, Any]]:
    with index.session() as s:
        rows = s.scalars(select(ApiToken).order_by(ApiToken.id)).all()
    return [
        {
            "name": t.name,
            "created_at": t.created_at.isoformat(timespec="seconds") + "Z",
            "revoked_at": t.revoked_at.isoformat(timespec="seconds") + "Z" if t.revoked_at else None,
        }
        for t in rows
    ]


def revoke_token(index: Index, name: str) -> int:
    """Revoke a token; returns how many active tokens are left."""
    with index.session() as s:
        tok = s.scalars(select(ApiToken).where(ApiToken.name == name)).first()
        if tok is None:
            raise NotFound(f"no token named {name!r}")
        if tok.revoked_at is None:
            tok.revoked_at = utcnow()
        s.flush()
        return _active(s)


def _active(s: Any) -> int:
    return int(s.scalar(select(func.count()).where(ApiToken.revoked_at.is_(None))) or 0)


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    return value.strip()


def checks_tokens(*, write: bool, reads_closed: bool) -> bool:
    """Whether `check_access` reads the tokens for this request: for every write (open while no
    token exists), for reads only when they are closed. Otherwise it lets the request go ahead
    without the database, which callers on an event loop use to skip a hop to a thread."""
    return write or reads_closed


def check_access(index: Index, authorization: str | None, *, write: bool, reads_closed: bool,
                 session: str | None = None) -> None:
    """Raise Unauthorized unless the request may go ahead. `session` is the token hash a signed-in
    browser's session cookie carries (web/session.py); a bearer header wins over it."""
    if not checks_tokens(write=write, reads_closed=reads_closed):
        return
    with index.session() as s:
        active = _active(s)
        if write and active == 0 and not reads_closed:
            return
        token = _bearer(authorization)
        if token is not None:
            digest = hash_token(token)
        elif session is not None:
            digest = session
        else:
            what = "writes" if write else "reads"
            if active == 0:
                raise Unauthorized(f"{what} need a token and none exists: run `citevault token create NAME`")
            raise Unauthorized(f"{what} need a token: send 'Authorization: Bearer <token>'")
        row = s.scalars(select(ApiToken).where(ApiToken.token_hash == digest)).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        raise Unauthorized("invalid token" if token is not None else "the session has ended: log in again")
    if row.revoked_at is not None:
        raise Unauthorized(f"the token {row.name!r} was revoked")


def tokens_exist(index: Index) -> bool:
    """Whether any unrevoked token exists (then writes need one)."""
    with index.session() as s:
        return _active(s) > 0


def verify_token(index: Index, token: str) -> str:
    """The hash of `token` if it is a valid, unrevoked token; else Unauthorized."""
    if not token.strip():
        raise Unauthorized("enter your API token")
    check_access(index, f"Bearer {token.strip()}", write=True, reads_closed=True)
    return hash_token(token.strip())
