"""HTTP for the built-in avatar: the OBS page (`GET /avatar`), its config, its files, uploads.

Uploads arrive as the raw request body (the page sends the chosen file as is; curl works:
`curl --data-binary @set.zip …/api/avatar/zip`), are size-capped while they stream in, and are
saved in a worker thread. Bad input answers 422 (413 over a cap) with `{"error", "hint"}` in
Korean, the same words the `avatar` status row would use."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from .image_set import AvatarError
from .store import MAX_IMAGE_BYTES, MAX_VRM_BYTES, MAX_ZIP_BYTES, AvatarStore, TooBig, too_big

NO_STORE = {"Cache-Control": "no-store"}
NO_CACHE = {"Cache-Control": "no-cache"}  # revalidate: the ?v= in every URL changes with the set
MEDIA_TYPES = {".png": "image/png", ".vrm": "model/gltf-binary"}
Saved = Callable[[str, Path], Awaitable[None] | None]


def avatar_page() -> str:
    return resources.files("aischoco.overlay").joinpath("static", "avatar.html").read_text("utf-8")


async def _body(request: Request, limit: int, what: str) -> bytes:
    """The raw body, refused as soon as it passes `limit` (never held whole when too big)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_big(what, limit)
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > limit:
            raise too_big(what, limit)
    return bytes(body)


def _refused(exc: AvatarError) -> JSONResponse:
    return JSONResponse({"error": exc.message, "hint": exc.hint},
                        413 if isinstance(exc, TooBig) else 422, headers=NO_STORE)


def avatar_router(store: AvatarStore, require_password: Callable[..., Any], *,
                  on_saved: Saved | None = None) -> APIRouter:
    """`require_password`: a FastAPI dependency guarding the uploads (PANEL_PASSWORD).
    `on_saved(mode, path)`: called after an upload is saved (e.g. to point AVATAR/AVATAR_PATH
    at it through the settings editor); the answer then carries the refreshed config."""
    router = APIRouter()
    page = avatar_page()
    guarded = [Depends(require_password)]

    @router.get("/avatar", response_class=HTMLResponse)
    async def avatar() -> HTMLResponse:
        return HTMLResponse(page, headers=NO_STORE)

    @router.get("/api/avatar")
    async def avatar_config() -> JSONResponse:
        await store.refresh()
        return JSONResponse(store.config(), headers=NO_STORE)

    @router.get("/avatar/files/{name:path}")
    async def avatar_file(name: str) -> Response:
        path = store.file_for(name)
        if path is None or not path.is_file():
            return JSONResponse({"error": "없는 파일이에요"}, 404, headers=NO_STORE)
        return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix.lower()),
                            headers=NO_CACHE)

    async def save(mode: str, work: Callable[[], Awaitable[Path]]) -> JSONResponse:
        try:
            path = await work()
        except AvatarError as exc:
            return _refused(exc)
        if on_saved is not None:
            result = on_saved(mode, path)
            if inspect.isawaitable(result):
                await result
        await store.refresh(max_age_s=0)
        return JSONResponse({"ok": True, "mode": mode, "path": str(path),
                             "config": store.config()}, headers=NO_STORE)

    @router.post("/api/avatar/image", dependencies=guarded)
    async def upload_image(request: Request, emotion: str = "", slot: str = "") -> JSONResponse:
        async def work() -> Path:
            data = await _body(request, MAX_IMAGE_BYTES, "이미지")
            return await asyncio.to_thread(store.save_image, emotion, slot, data)
        return await save("png", work)

    @router.post("/api/avatar/zip", dependencies=guarded)
    async def upload_zip(request: Request) -> JSONResponse:
        async def work() -> Path:
            data = await _body(request, MAX_ZIP_BYTES, "ZIP")
            return await asyncio.to_thread(store.save_zip, data)
        return await save("png", work)

    @router.post("/api/avatar/vrm", dependencies=guarded)
    async def upload_vrm(request: Request) -> JSONResponse:
        async def work() -> Path:
            data = await _body(request, MAX_VRM_BYTES, "VRM")
            return await asyncio.to_thread(store.save_vrm, data)
        return await save("vrm", work)

    return router
