"""The panel's buttons on the show: test chat, clear, pause/resume, skip, the idle-talk and vision
switches (and the vision frame), and viewer memory (look up, forget, delete a fact)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from ...core.messages import ChatMessage, Kind, Role
from ..guard import NO_STORE
from ..panel_api import PanelApi
from ..requests import ChatIn, FactIn, ForgetIn, IdleTalkIn, PauseIn


def show_router(controls: PanelApi) -> APIRouter:
    router = APIRouter()

    @router.post("/api/chat")
    async def chat(body: ChatIn) -> dict[str, Any]:
        msg = ChatMessage(user=body.user, message=body.message, user_id=body.user_id or body.user,
                          role=Role(body.role), kind=Kind(body.kind), amount=body.amount,
                          emoticons=body.emoticons, source="api")
        return controls.chat(msg)

    @router.post("/api/clear")
    async def clear() -> dict[str, Any]:
        controls.clear()
        return {"ok": True}

    @router.post("/api/toggle_streamer_chat")
    async def toggle_streamer_chat() -> dict[str, Any]:
        return {"ignore_streamer_chat": controls.toggle_streamer_chat()}

    @router.post("/api/vision")
    async def vision_switch(body: IdleTalkIn) -> dict[str, Any]:
        return {"enabled": controls.set_vision(body.enabled)}

    @router.get("/api/vision/frame")
    async def vision_frame() -> Response:
        frame = controls.vision_frame()
        if frame is None:
            return Response(status_code=204, headers=NO_STORE)
        return Response(frame, media_type="image/jpeg", headers=NO_STORE)

    @router.post("/api/idle_talk")
    async def idle_talk(body: IdleTalkIn) -> dict[str, Any]:
        return {"enabled": controls.set_idle_talk(body.enabled)}

    @router.post("/api/pause")
    async def pause(body: PauseIn | None = None) -> dict[str, Any]:
        return {"paused": controls.set_paused(body.paused if body else None)}

    @router.post("/api/resume")
    async def resume() -> dict[str, Any]:
        return {"paused": controls.set_paused(False)}

    @router.post("/api/skip")
    async def skip() -> dict[str, Any]:
        return {"skipped": controls.skip()}

    @router.get("/api/memory")
    async def memory(user: str | None = None) -> JSONResponse:
        """One viewer (user id or any nickname they used; all who match), or the regulars."""
        return JSONResponse(await controls.memory_lookup(user), headers=NO_STORE)

    @router.post("/api/memory/forget")
    async def memory_forget(body: ForgetIn) -> dict[str, Any]:
        return {"forgotten": await controls.memory_forget(body.user)}

    @router.post("/api/memory/delete_fact")
    async def memory_delete_fact(body: FactIn) -> dict[str, Any]:
        return {"deleted": await controls.memory_delete_fact(body.id)}

    return router
