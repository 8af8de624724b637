"""The settings page's API (behind PANEL_PASSWORD): the settings, their test buttons, the sound
devices, and the CHZZK login it starts (the OAuth callback itself needs no password)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ...chat.chzzk_auth import result_page
from ..guard import NO_STORE
from ..panel_api import PanelApi
from ..requests import SettingsIn, TestIn


def settings_router(controls: PanelApi, require_password: Callable[..., None], *,
                    password_set: bool) -> APIRouter:
    router = APIRouter()
    guarded = APIRouter(dependencies=[Depends(require_password)])

    @guarded.get("/api/settings")
    async def settings_view() -> JSONResponse:
        view = controls.settings_view()
        if view is None:
            return JSONResponse({"error": "설정 파일 없이 실행 중입니다"}, 404, headers=NO_STORE)
        return JSONResponse({**view, "password_required": password_set}, headers=NO_STORE)

    @guarded.post("/api/settings")
    async def settings_save(body: SettingsIn) -> JSONResponse:
        status, result = controls.save_settings(body.values)
        return JSONResponse(result, status, headers=NO_STORE)

    @guarded.post("/api/settings/test")
    async def settings_test(body: TestIn) -> JSONResponse:
        return JSONResponse(await controls.test_setting(body.what), headers=NO_STORE)

    @guarded.post("/api/chzzk/logout")
    async def chzzk_logout() -> JSONResponse:
        return JSONResponse({"logged_out": controls.chzzk_logout()}, headers=NO_STORE)

    @router.get("/auth/chzzk/login")
    async def chzzk_login() -> Response:
        url, why = controls.chzzk_login_start()
        if url is None:
            page = result_page("치지직 로그인", why, ok=False, back_to_settings=True)
            return HTMLResponse(page, 400, headers=NO_STORE)
        return Response(status_code=302, headers={"Location": url, **NO_STORE})

    @router.get("/auth/chzzk/callback")
    async def chzzk_callback(request: Request) -> HTMLResponse:
        ok, text = await controls.chzzk_login_complete(dict(request.query_params))
        page = result_page("치지직 로그인 완료" if ok else "치지직 로그인 실패", text, ok=ok,
                           back_to_settings=True)
        return HTMLResponse(page, 200 if ok else 400, headers=NO_STORE)

    @router.get("/api/devices")
    async def devices() -> JSONResponse:
        return JSONResponse(await controls.devices(), headers=NO_STORE)

    router.include_router(guarded)
    return router
