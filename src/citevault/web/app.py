"""The HTTP application: `create_app(settings)` assembles the API, replay, Memento, citation, link
rot and web-interface routers, and turns every error into a response in one handler."""

from __future__ import annotations

from importlib.resources import files
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from citevault.storage.errors import CitevaultError

from ..archive import Archive
from ..config import Settings
from ..metrics import Metrics
from . import api, asseen, cite, evidence, linkrot, memento, replay, search, session, sources, ui
from .deps import authorize, get_root, init_state
from .origin import refuse_cross_site_writes
from .pages import make_templates, page_headers
from .session import Sessions, load_secret

__all__ = ["create_app"]


def create_app(settings: Settings, archive: Archive | None = None) -> FastAPI:
    """A FastAPI app over the archive the settings name. Routers keep their state on
    `app.state` (settings, archive, templates, metrics, work queue); nothing is global."""
    app = FastAPI(
        title="citevault",
        version="0.1.0",
        description="Keeps cited web sources alive: capture, index, re-check and replay them.",
        # Bearer tokens for writes (and reads, if closed); no writes from other origins (CSRF).
        dependencies=[Depends(authorize), Depends(refuse_cross_site_writes)],
        docs_url=None,  # served below from our own copy of Swagger UI: /docs works offline
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.archive = archive or Archive(settings)
    app.state.metrics = Metrics(app.state.archive)
    app.state.templates = make_templates()
    app.state.sessions = Sessions(load_secret(settings.home))
    init_state(app.state)

    # Exception: Starlette answers unexpected errors through this handler too (and still logs them).
    for exc_type in (CitevaultError, RequestValidationError, StarletteHTTPException, Exception):
        app.add_exception_handler(exc_type, _error_response)
    app.add_middleware(_BodyLimit, limit=settings.max_request_body)

    @app.get("/healthz", tags=["service"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        assets = f"{get_root(request)}/docs/assets"
        return get_swagger_ui_html(
            openapi_url=f"{get_root(request)}{app.openapi_url}", title="citevault API",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js", swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon.png",
        )

    for module in (api, asseen, cite, evidence, linkrot, memento, replay, search, session, sources, ui):
        app.include_router(module.router)
    app.mount("/ui/static", StaticFiles(packages=[("citevault.web", "static")]), name="static")
    # Swagger UI 5 as packaged by fastapi-offline (only its files are used): swagger-ui-bundle's
    # 4.15 cannot render the OpenAPI 3.1 document FastAPI writes.
    app.mount("/docs/assets", StaticFiles(directory=str(files("fastapi_offline") / "static")),
              name="docs-assets")
    return app


_MACHINE_PREFIXES = ("/api/", "/cdx", "/timegate/", "/timemap/", "/metrics", "/healthz", "/openapi.json")


def _is_page(request: Request) -> bool:
    """Routes a person opens in a browser get an HTML error page; the API and the interfaces of
    archive tools (CDX, Memento, metrics) get JSON."""
    path = request.url.path
    if path.startswith(_MACHINE_PREFIXES):
        return False
    return path == "/" or path.startswith("/ui/") or "text/html" in request.headers.get("accept", "")


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
    return 500, "internal error: the service log has the details"


async def _error_response(request: Request, exc: Exception) -> Response:
    """The one place errors become responses: a styled page for browser routes, else
    `{"error": "..."}` with the error's status."""
    status, message = _message(exc)
    headers = getattr(exc, "headers", None)
    if _is_page(request):
        if status == 401 and request.method in ("GET", "HEAD"):
            # A browser without a session: to the login page, and back here afterwards.
            here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"{get_root(request)}/ui/login?next={quote(here)}", status_code=303)
        templates: Jinja2Templates = request.app.state.templates
        heading = {404: "Not found", 401: "Please log in", 403: "Not allowed"}.get(
            status, "Something went wrong" if status >= 500 else "That did not work")
        return templates.TemplateResponse(
            request, "error.html",
            {"root": get_root(request), "title": heading, "heading": heading, "message": message},
            status_code=status, headers=page_headers(headers),
        )
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class _BodyLimit:
    """A request body over `limit` bytes is refused with 413 as soon as that is known (from
    Content-Length, else from the bytes received so far), never read whole. The error is raised
    where the route reads its body, so the one handler above answers it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            if declared.isdigit() and int(declared) > self.limit:
                raise self._too_large()
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise self._too_large()
            return message

        await self.app(scope, limited, send)

    def _too_large(self) -> StarletteHTTPException:
        return StarletteHTTPException(
            413, f"the request body is larger than {self.limit} bytes (CITEVAULT_MAX_REQUEST_BODY)")
