"""The overlay + control panel HTTP app (FastAPI). Pages are static; data comes from the API.

One router per concern (overlay/routes/): pages, settings, live state, the show's buttons; the
voice studio and the avatar bring their own routers. PANEL_PASSWORD is one dependency
(guard.password_dependency) that every protected router shares."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from ..vtuber.params_feed import ParamsFeed
from .guard import (CrossOriginGuard, PasswordRequired, allowed_hosts, password_dependency,
                    password_required_response)
from .panel_api import PanelApi
from .routes.live import live_router
from .routes.pages import pages_router
from .routes.settings import settings_router
from .routes.show import show_router

# A router that needs this run's token (for its pages) and the password dependency.
RouterFactory = Callable[[str, Callable[..., None]], APIRouter]


def create_app(controls: PanelApi, *, bind_host: str = "127.0.0.1",
               token: str | None = None, params_feed: ParamsFeed | None = None,
               panel_password: str | None = None,
               routers: Sequence[RouterFactory] = ()) -> FastAPI:
    """`token`: the per-run secret our pages send with state changes (random if not given).
    `params_feed`: the animator's parameter frames, streamed on WS /ws/params.
    `panel_password`: required (header X-Panel-Password) by the settings endpoints.
    `routers`: more pages with their APIs (the voice studio, the avatar)."""
    token = token or secrets.token_urlsafe(24)
    app = FastAPI(title="aischoco", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(CrossOriginGuard, token=token)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(bind_host))
    app.add_exception_handler(PasswordRequired, password_required_response)
    require_password = password_dependency(panel_password)
    app.include_router(pages_router(token))
    app.include_router(settings_router(controls, require_password,
                                       password_set=panel_password is not None))
    app.include_router(live_router(controls, params_feed))
    app.include_router(show_router(controls))
    for factory in routers:
        app.include_router(factory(token, require_password))
    app.mount("/static", StaticFiles(packages=[("aischoco.overlay", "static")]), name="static")
    return app
