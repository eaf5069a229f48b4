"""The HTTP interface: the FastAPI app factory, its routers, templates and static files."""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
