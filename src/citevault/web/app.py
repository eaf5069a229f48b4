"""The HTTP application: `create_app(settings)` assembles the API, replay, Memento, citation, link
rot and web-interface routers, and turns every error into a response in one handler."""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from citevault.storage.errors import CitevaultError

from ..archive import Archive
from ..config import Settings
from ..metrics import Metrics
from . import api, asseen, cite, linkrot, memento, replay, ui
from .deps import authorize, get_root, init_state
from .pages import make_templates

__all__ = ["create_app"]


def create_app(settings: Settings, archive: Archive | None = None) -> FastAPI:
    """A FastAPI app over the archive the settings name. Routers keep their state on
    `app.state` (settings, archive, templates, metrics, work queue); nothing is global."""
    app = FastAPI(
        title="citevault",
        version="0.1.0",
        description="Keeps cited web sources alive: capture, index, re-check and replay them.",
        dependencies=[Depends(authorize)],  # bearer tokens for writes (and reads, if closed)
    )
    app.state.settings = settings
    app.state.archive = archive or Archive(settings)
    app.state.metrics = Metrics(app.state.archive)
    app.state.templates = make_templates()
    init_state(app.state)

    for exc_type in (CitevaultError, RequestValidationError, StarletteHTTPException):
        app.add_exception_handler(exc_type, _error_response)

    @app.get("/healthz", tags=["service"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    for module in (api, asseen, cite, linkrot, memento, replay, ui):
        app.include_router(module.router)
    app.mount("/ui/static", StaticFiles(packages=[("citevault.web", "static")]), name="static")
    return app


def _is_page(request: Request) -> bool:
    """Routes a person opens in a browser get an HTML error page; the rest (API, CDX, replay
    machinery) get JSON."""
    path = request.url.path
    return path == "/" or path.startswith("/ui/")


def _message(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, CitevaultError):
        return exc.status_code, str(exc)
    if isinstance(exc, RequestValidationError):
        # Malformed requests get the same one-line message, as 400, not FastAPI's 422.
        problems = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "request"
            problems.append(f"{where}: {e.get('msg', 'invalid')}")
        return 400, "bad request: " + "; ".join(problems)
    if isinstance(exc, StarletteHTTPException):
        return exc.status_code, str(exc.detail)
    raise exc  # only the types registered above come here


async def _error_response(request: Request, exc: Exception) -> Response:
    """The one place errors become responses: a styled page for browser routes, else
    `{"error": "..."}` with the error's status."""
    status, message = _message(exc)
    headers = getattr(exc, "headers", None)
    if _is_page(request):
        templates: Jinja2Templates = request.app.state.templates
        return templates.TemplateResponse(
            request, "error.html",
            {"root": get_root(request), "message": message, "status": status},
            status_code=status, headers=ui.page_headers(headers),
        )
    return JSONResponse({"error": message}, status_code=status, headers=headers)
