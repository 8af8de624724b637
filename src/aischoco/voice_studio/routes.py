"""HTTP for the voice studio (`/voice`): the page, and the API its buttons call.

A clip arrives as the raw request body (the page sends the recorded WAV or the chosen file as is),
so no multipart parser is needed and curl works: `curl --data-binary @ref.m4a …/api/voice/clip`.
Every endpoint sits behind PANEL_PASSWORD when one is set, like the settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from ..overlay.panel_api import PanelApi, Refused, VoiceStudioApi
from ..overlay.routes.pages import html_endpoint, page

MAX_CLIP_BYTES = 30 * 1024 * 1024 + 1  # tts.audio_decode refuses more with a clear message
NO_STORE = {"Cache-Control": "no-store"}
TOO_BIG = "파일이 너무 큽니다 (최대 30 MB). 목소리 샘플은 10초면 충분해요."


class DraftIn(BaseModel):
    draft: str = Field(..., min_length=1, max_length=64)


class TextIn(DraftIn):
    text: str = Field("", max_length=2000)


class PreviewIn(TextIn):
    sentence: str = Field("", max_length=2000)


class TrimIn(DraftIn):
    start_s: float = Field(..., ge=0, le=600)
    end_s: float = Field(..., gt=0, le=600)


class BackupIn(BaseModel):
    name: str = Field(..., min_length=1, max_length=64)


def voice_routes(controls: PanelApi) -> Callable[[str, Callable[..., None]], APIRouter]:
    """The studio's router for create_app(routers=…): the page, and its API behind the password."""
    def build(token: str, require_password: Callable[..., None]) -> APIRouter:
        router = APIRouter()
        router.add_api_route("/voice", html_endpoint(page("voice.html", token)), methods=["GET"],
                             response_class=HTMLResponse, include_in_schema=False)
        router.include_router(_api(controls, require_password))
        return router
    return build


def _api(controls: PanelApi, require_password: Callable[..., None]) -> APIRouter:
    app = APIRouter(dependencies=[Depends(require_password)])

    def studio() -> VoiceStudioApi:
        if controls.voice_studio is None:
            raise Refused("이 실행에서는 목소리 스튜디오를 쓸 수 없습니다.")
        return controls.voice_studio

    async def answer(work: Callable[[], Awaitable[Any]]) -> Response:
        try:
            result = await work()
        except Refused as exc:
            return JSONResponse({"error": str(exc)}, 422, headers=NO_STORE)
        if isinstance(result, Response):
            return result
        return JSONResponse(result, headers=NO_STORE)

    @app.get("/api/voice")
    async def voice_info() -> Response:
        return await answer(lambda: studio().info())

    @app.post("/api/voice/clip")
    async def voice_clip(request: Request) -> Response:
        async def work() -> dict[str, Any]:
            declared = int(request.headers.get("content-length") or 0)
            if declared > MAX_CLIP_BYTES:
                raise Refused(TOO_BIG)
            body = bytearray()
            async for piece in request.stream():
                body += piece
                if len(body) > MAX_CLIP_BYTES:
                    raise Refused(TOO_BIG)
            return await studio().add_clip(bytes(body))
        return await answer(work)

    @app.post("/api/voice/trim")
    async def voice_trim(body: TrimIn) -> Response:
        return await answer(lambda: studio().trim(body.draft, body.start_s, body.end_s))

    @app.post("/api/voice/transcribe")
    async def voice_transcribe(body: DraftIn) -> Response:
        return await answer(lambda: studio().transcribe(body.draft))

    @app.post("/api/voice/preview")
    async def voice_preview(body: PreviewIn) -> Response:
        async def work() -> Response:
            wav = await studio().preview(body.draft, body.text, body.sentence)
            return Response(wav, media_type="audio/wav", headers=NO_STORE)
        return await answer(work)

    @app.post("/api/voice/save")
    async def voice_save(body: TextIn) -> Response:
        return await answer(lambda: studio().save(body.draft, body.text))

    @app.post("/api/voice/restore")
    async def voice_restore(body: BackupIn) -> Response:
        return await answer(lambda: studio().draft_from_backup(body.name))

    @app.get("/api/voice/draft.wav")
    async def voice_draft(draft: str) -> Response:
        async def work() -> Response:
            wav = await studio().draft_wav(draft)
            return Response(wav, media_type="audio/wav", headers=NO_STORE)
        return await answer(work)

    @app.get("/api/voice/sample.wav")
    async def voice_sample(backup: str | None = None) -> Response:
        async def work() -> Response:
            wav = studio().backup_wav(backup) if backup else studio().current_wav()
            return FileResponse(wav, media_type="audio/wav", headers=NO_STORE)
        return await answer(work)

    return app
