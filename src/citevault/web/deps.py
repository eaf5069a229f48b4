"""The FastAPI dependencies every router shares: the archive, the settings, the public base URL,
the work queue, the page templates and the bearer-token check. State lives on `app.state`, set by
`create_app`; nothing here is global."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from starlette.datastructures import State

from ..archive import Archive
from ..auth import check_access
from ..config import Settings
from ..workqueue import WorkQueue, open_workqueue

__all__ = [
    "ArchiveDep",
    "BaseUrlDep",
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
    "target_after",
]

# Liveness probes and the interface's own assets stay open even when reads need a token.
_OPEN_PATHS = frozenset({"/healthz"})
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


def authorize(request: Request) -> None:
    """App-wide dependency: reads (GET, HEAD, OPTIONS) and writes (the rest) checked against the
    bearer tokens, as auth.check_access decides."""
    if request.url.path in _OPEN_PATHS:
        return
    check_access(
        get_archive(request).index,
        request.headers.get("authorization"),
        write=request.method not in _READ_METHODS,
        reads_closed=get_settings(request).read_token_required,
    )


ArchiveDep = Annotated[Archive, Depends(get_archive)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
BaseUrlDep = Annotated[str, Depends(get_base_url)]
RootDep = Annotated[str, Depends(get_root)]
TemplatesDep = Annotated[Jinja2Templates, Depends(get_templates)]
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
