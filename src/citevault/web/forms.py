"""What every form of the web interface does before acting: read the url-encoded body, refuse
cross-site posts (CSRF), and check that the browser may write (a session, a bearer header, or an
archive without tokens)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from citevault.storage.errors import MAX_ROW_ID, BadInput, Forbidden, NotFound, Unauthorized

from ..auth import check_access, tokens_exist
from .deps import get_archive, get_settings, session_hash

__all__ = ["accept_source_form", "authorize_form", "read_form", "same_origin"]

_FORM_LIMIT = 64 * 1024


async def read_form(request: Request) -> dict[str, str]:
    """The url-encoded form body (first value of each field). Starlette's request.form() needs
    python-multipart for this too; a url-encoded body is one stdlib call, so no extra dependency."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise BadInput("send the form as application/x-www-form-urlencoded")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > _FORM_LIMIT:
            raise BadInput("the form is too large")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadInput("unreadable form data") from exc
    values: dict[str, str] = {}
    for key, value in pairs:
        values.setdefault(key, value)
    return values


def same_origin(request: Request) -> None:
    """Refuse cross-site form posts (CSRF). Replayed archived pages are served from this origin
    in a sandbox, so their origin is "null": a form or fetch in an archived page must not be able
    to archive or schedule anything, even while no token exists. SameSite=Strict on the session
    cookie is the second lock."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise Forbidden("cross-site form posts are refused")
    origin = request.headers.get("origin")
    if origin is not None:
        own = f"{request.url.scheme}://{request.url.netloc}"
        if origin != own:
            raise Forbidden(f"form posted from another origin ({origin}) is refused")


def authorize_form(request: Request) -> None:
    """A write from a form: the session cookie (or, for scripts, a bearer header), checked as the
    app-wide dependency checks a write. Call after same_origin."""
    archive = get_archive(request)
    header = request.headers.get("authorization")
    session = session_hash(request)
    try:
        check_access(archive.index, header, write=True,
                     reads_closed=get_settings(request).read_token_required, session=session)
    except Unauthorized as exc:
        if header is None and session is None and tokens_exist(archive.index):
            raise Unauthorized("this archive needs you to log in before archiving") from exc
        raise


async def accept_source_form(request: Request) -> int:
    """The source id in the path of a form's write on one source (retry, check now), once the
    write's origin, body and session have been checked."""
    source_id = int(request.path_params["source_id"])
    if source_id > MAX_ROW_ID:  # past what the database's integer holds: no such source
        raise NotFound(f"no source with id {source_id}")
    same_origin(request)
    await read_form(request)
    await run_in_threadpool(authorize_form, request)
    return source_id
