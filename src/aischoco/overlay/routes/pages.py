"""The static pages: the control panel (/), the OBS overlay (/overlay), the settings (/settings),
the static files they load (/static/…: the avatar's scripts and vendored libraries), and the
browser tab's icon (/favicon.ico: a small SVG, so no page asks for it in vain)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from ..guard import NO_STORE

TOKEN_PLACEHOLDER = "{{AISCHOCO_TOKEN}}"
# A chocolate square with a speech bubble's tail: the tab icon of every page (browsers ask for
# /favicon.ico by themselves; an SVG answers them all, at any size).
FAVICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">'
    '<path d="M10 6h44a6 6 0 0 1 6 6v32a6 6 0 0 1-6 6H30l-14 10v-10h-6a6 6 0 0 1-6-6V12a6 6 0 0 1 6-6z"'
    ' fill="#6b3f2a"/>'
    '<path d="M14 12h16v15H14zM34 12h16v15H34zM14 31h16v13H14zM34 31h16v13H34z" fill="#8a5538"/>'
    '<circle cx="24" cy="22" r="3" fill="#fff"/><circle cx="40" cy="22" r="3" fill="#fff"/>'
    '<path d="M24 32q8 7 16 0" stroke="#fff" stroke-width="3" fill="none" stroke-linecap="round"/>'
    '</svg>')


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

    async def favicon() -> Response:
        return Response(FAVICON_SVG, media_type="image/svg+xml",
                        headers={"Cache-Control": "max-age=86400"})

    for path in ("/favicon.ico", "/favicon.svg"):
        router.add_api_route(path, favicon, methods=["GET"], include_in_schema=False)
    return router


def html_endpoint(text: str) -> Callable[[], Awaitable[HTMLResponse]]:
    async def endpoint() -> HTMLResponse:
        return HTMLResponse(text, headers=NO_STORE)
    return endpoint
