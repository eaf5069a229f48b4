"""The HTTP application: `create_app(settings)` assembles the API, replay and web interface."""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from citevault.storage.errors import CitevaultError

from .archive import Archive
from .auth import authorize
from .config import Settings

__all__ = ["create_app"]


def create_app(settings: Settings, archive: Archive | None = None) -> FastAPI:
    """A FastAPI app over the archive the settings name. Routers keep their state on
    `app.state` (settings, archive); nothing is global."""
    app = FastAPI(
        title="citevault",
        version="0.1.0",
        description="Keeps cited web sources alive: capture, index, re-check and replay them.",
        dependencies=[Depends(authorize)],  # bearer tokens for writes (and reads, if closed)
    )
    app.state.settings = settings
    app.state.archive = archive or Archive(settings)

    @app.exception_handler(CitevaultError)
    async def _citevault_error(request: Request, exc: CitevaultError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=exc.status_code)

    # Malformed requests get the same one-line {"error": ...} shape, as 400, not FastAPI's 422.
    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "request"
            problems.append(f"{where}: {e.get('msg', 'invalid')}")
        return JSONResponse({"error": "bad request: " + "; ".join(problems)}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.get("/healthz", tags=["service"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # Routers, one module each.
    from . import api

    api.install(app)
    from .api_cite import router as cite_router

    app.include_router(cite_router)
    from .api_health import router as health_router

    app.include_router(health_router)
    from .api_replay import router as replay_router

    app.include_router(replay_router)
    from .ui import router as ui_router

    app.include_router(ui_router)
    return app
