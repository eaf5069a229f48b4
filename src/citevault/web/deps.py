"""The FastAPI dependencies every router shares: the archive, the settings, the public base URL,
the work queue, the page templates and the bearer-token check. State lives on `app.state`, set by
`create_app`; nothing here is global."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.templating import Jinja2Templates
from starlette.datastructures import State

from citevault.storage.errors import MAX_ROW_ID

from ..archive import Archive
from ..auth import check_access, checks_tokens
from ..config import Settings
from ..workqueue import WorkQueue, open_workqueue

if TYPE_CHECKING:
    from .session import Sessions

__all__ = [
    "COOKIE",
    "ArchiveDep",
    "BaseUrlDep",
    "RowId",
    "RootDep",
    "SettingsDep",
    "TemplatesDep",
    "WorkQueueDep",
    "authorize",
    "get_archive",
    "get_base_url",
    "get_root",
    "get_settings",
    "get_templates",
    "get_workqueue",
    "init_state",
    "session_hash",
    "target_after",
]

COOKIE = "citevault_session"
# A larger id would fail in the database driver (a 500): refused as bad input (400) instead.
RowId = Annotated[int, Path(ge=0, le=MAX_ROW_ID, description="A row id (a source's, a snapshot's).")]

# Liveness probes and the way in stay open even when reads need a token.
_OPEN_PATHS = frozenset({"/healthz", "/ui/login"})
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_archive(request: Request) -> Archive:
    archive: Archive = request.app.state.archive
    return archive


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_base_url(request: Request) -> str:
    """Absolute base for links that leave the page (replay links in citations, Memento headers):
    the configured public URL, else the address this request used."""
    public = get_settings(request).public_url
    return str(public or request.base_url).rstrip("/")


def get_root(request: Request) -> str:
    """The path prefix the app is mounted under (empty at the top), for links inside pages."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def get_templates(request: Request) -> Jinja2Templates:
    templates: Jinja2Templates = request.app.state.templates
    return templates


def get_workqueue(request: Request) -> WorkQueue:
    """The work queue, opened on first use (the service sets its own before serving)."""
    state = request.app.state
    with state.workqueue_lock:
        if state.workqueue is None:
            state.workqueue = open_workqueue(state.settings, state.archive.index)
        queue: WorkQueue = state.workqueue
    return queue


def init_state(state: State) -> None:
    """The work-queue and scheduler slots of `app.state`: the service fills them when it runs."""
    state.workqueue = None
    state.scheduler = None
    state.workqueue_lock = threading.Lock()
    state.titles = {}  # capture id -> page title (web/titles.py)
    state.checks = None  # the link-check queue (web.linkrot), made on first use
    state.checks_lock = threading.Lock()


def session_hash(request: Request) -> str | None:
    """The token hash this browser's signed session cookie carries, if it is valid and unexpired."""
    sessions: Sessions = request.app.state.sessions
    return sessions.read(request.cookies.get(COOKIE))


async def authorize(request: Request) -> None:
    """App-wide dependency: reads (GET, HEAD, OPTIONS) and writes (the rest) checked against the
    bearer tokens, as auth.check_access decides. A browser session opens reads only: writes
    through the API keep needing the bearer header (the forms check the session themselves,
    with the origin: forms.py).

    A coroutine, so that a request that needs no database (an open read) is let through on the
    event loop: FastAPI runs every plain `def` dependency in the thread pool, and a hop there
    costs 0.1-1 ms on a busy machine (benchmarks/search_bench.py, over HTTP). Reading the tokens
    goes to the thread pool."""
    if request.url.path in _OPEN_PATHS:
        return
    write = request.method not in _READ_METHODS
    reads_closed = get_settings(request).read_token_required
    if not checks_tokens(write=write, reads_closed=reads_closed):
        return
    await run_in_threadpool(
        check_access,
        get_archive(request).index,
        request.headers.get("authorization"),
        write=write,
        reads_closed=reads_closed,
        session=None if write else session_hash(request),
    )


# The aliases routes declare use coroutines: these read app.state only, no hop to a thread.
async def _archive(request: Request) -> Archive:
    return get_archive(request)


async def _settings(request: Request) -> Settings:
    return get_settings(request)


async def _base_url(request: Request) -> str:
    return get_base_url(request)


async def _root(request: Request) -> str:
    return get_root(request)


async def _templates(request: Request) -> Jinja2Templates:
    return get_templates(request)


ArchiveDep = Annotated[Archive, Depends(_archive)]
SettingsDep = Annotated[Settings, Depends(_settings)]
BaseUrlDep = Annotated[str, Depends(_base_url)]
RootDep = Annotated[str, Depends(_root)]
TemplatesDep = Annotated[Jinja2Templates, Depends(_templates)]
WorkQueueDep = Annotated[WorkQueue, Depends(get_workqueue)]


def target_after(request: Request, marker: str) -> str:
    """What follows `marker` in the request path, as sent (percent-escapes intact), with the query
    string: the archived URL of a replay or Memento route, whose own query must survive."""
    raw = request.scope.get("raw_path") or request.scope["path"].encode()
    path = raw.decode("utf-8", "replace")
    i = path.find(marker)
    rest = path[i + len(marker):] if i >= 0 else ""
    query = request.scope.get("query_string", b"").decode("latin-1")
    return f"{rest}?{query}" if query else rest
