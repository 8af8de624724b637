"""The static pages: the control panel (/), the OBS overlay (/overlay), the settings (/settings),
and the static files they load (/static/…: the avatar's scripts and vendored libraries)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from ..guard import NO_STORE

TOKEN_PLACEHOLDER = "{{AISCHOCO_TOKEN}}"


def page(name: str, token: str) -> str:
    """A page with this run's token in it (our pages send it with every state change)."""
    text = resources.files("aischoco.overlay").joinpath("static", name).read_text("utf-8")
    return text.replace(TOKEN_PLACEHOLDER, token)


def pages_router(token: str) -> APIRouter:
    router = APIRouter()
    pages = {path: page(name, token) for path, name in
             (("/", "panel.html"), ("/overlay", "overlay.html"), ("/settings", "settings.html"))}

    for path, text in pages.items():
        router.add_api_route(path, html_endpoint(text), methods=["GET"],
                             response_class=HTMLResponse, include_in_schema=False)
    return router


def html_endpoint(text: str) -> Callable[[], Awaitable[HTMLResponse]]:
    async def endpoint() -> HTMLResponse:
        return HTMLResponse(text, headers=NO_STORE)
    return endpoint
