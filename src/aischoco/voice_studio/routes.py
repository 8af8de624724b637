"""HTTP for the voice studio (`/voice`): the page, and the API its buttons call.

A clip arrives as the raw request body (the page sends the recorded WAV or the chosen file as is),
so no multipart parser is needed and curl works: `curl --data-binary @ref.m4a …/api/voice/clip`.
Every endpoint sits behind PANEL_PASSWORD when one is set, like the settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from ..overlay.panel_api import PanelApi, Refused, VoiceStudioApi

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


def add_voice_routes(app: FastAPI, controls: PanelApi, page: str,
                     password_ok: Callable[[Request], bool]) -> None:
    def studio() -> VoiceStudioApi:
        if controls.voice_studio is None:
            raise Refused("이 실행에서는 목소리 스튜디오를 쓸 수 없습니다.")
        return controls.voice_studio

    async def answer(request: Request, work: Callable[[], Awaitable[Any]]) -> Response:
        if not password_ok(request):
            return JSONResponse({"error": "PANEL_PASSWORD가 필요합니다"}, 401, headers=NO_STORE)
        try:
            result = await work()
        except Refused as exc:
            return JSONResponse({"error": str(exc)}, 422, headers=NO_STORE)
        if isinstance(result, Response):
            return result
        return JSONResponse(result, headers=NO_STORE)

    @app.get("/voice", response_class=HTMLResponse)
    async def voice_page() -> HTMLResponse:
        return HTMLResponse(page, headers=NO_STORE)

    @app.get("/api/voice")
    async def voice_info(request: Request) -> Response:
        return await answer(request, lambda: studio().info())

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
        return await answer(request, work)

    @app.post("/api/voice/trim")
    async def voice_trim(request: Request, body: TrimIn) -> Response:
        return await answer(request, lambda: studio().trim(body.draft, body.start_s, body.end_s))

    @app.post("/api/voice/transcribe")
    async def voice_transcribe(request: Request, body: DraftIn) -> Response:
        return await answer(request, lambda: studio().transcribe(body.draft))

    @app.post("/api/voice/preview")
    async def voice_preview(request: Request, body: PreviewIn) -> Response:
        async def work() -> Response:
            wav = await studio().preview(body.draft, body.text, body.sentence)
            return Response(wav, media_type="audio/wav", headers=NO_STORE)
        return await answer(request, work)

    @app.post("/api/voice/save")
    async def voice_save(request: Request, body: TextIn) -> Response:
        return await answer(request, lambda: studio().save(body.draft, body.text))

    @app.post("/api/voice/restore")
    async def voice_restore(request: Request, body: BackupIn) -> Response:
        return await answer(request, lambda: studio().draft_from_backup(body.name))

    @app.get("/api/voice/draft.wav")
    async def voice_draft(request: Request, draft: str) -> Response:
        async def work() -> Response:
            wav = await studio().draft_wav(draft)
            return Response(wav, media_type="audio/wav", headers=NO_STORE)
        return await answer(request, work)

    @app.get("/api/voice/sample.wav")
    async def voice_sample(request: Request, backup: str | None = None) -> Response:
        async def work() -> Response:
            wav = studio().backup_wav(backup) if backup else studio().current_wav()
            return FileResponse(wav, media_type="audio/wav", headers=NO_STORE)
        return await answer(request, work)
