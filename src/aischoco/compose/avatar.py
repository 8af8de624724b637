"""The built-in avatar, composed: the store (the set or model AVATAR_PATH names, uploads under
config/avatar/), its component (status row 아바타; the animator's motion while VTube Studio is
off) and its routes (GET /avatar, /api/avatar…)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel

from ..avatar.component import AvatarComponent
from ..core.stages import Animator
from ..overlay.routes.pages import html_endpoint, page
from ..avatar.routes import avatar_router
from ..avatar.store import AvatarStore
from ..settings.model import Settings
from ..vtuber.animator import VtsAnimator

log = logging.getLogger(__name__)

TRY_SENTENCE = "안녕하세요! 아바타가 제 목소리에 맞춰 움직이는지 보고 있어요."
USER_DIR = Path("config/avatar")  # uploads; the shipped default set in assets/avatar/ stays as is
SaveSettings = Callable[[dict[str, object]], tuple[int, dict[str, object]]]


class TryIn(BaseModel):
    emotion: Literal["neutral", "happy", "sad", "angry", "surprised", "excited"] | None = None
    say: bool = False


@dataclass(frozen=True, slots=True)
class BuiltAvatar:
    component: AvatarComponent
    routes: Callable[[str, Callable[..., None]], APIRouter]  # for create_app(routers=…)


def build_avatar(current: Callable[[], Settings], animator: Animator,
                 save_settings: SaveSettings | None, *, say: Callable[[str], Awaitable[str]],
                 busy: Callable[[], bool]) -> BuiltAvatar:
    """`current`: the live settings (the settings page may change AVATAR at any time).
    `save_settings`: the settings editor's save, so an upload points AVATAR/AVATAR_PATH at it.
    `say`/`busy`: the running voice (a sentence through TTS and the audio output; "" when it
    was heard) and whether a turn is on air, for the set-up page's "말해 보기"."""
    store = AvatarStore(lambda: current().avatar, lambda: current().avatar_path, USER_DIR)
    # With VTube Studio on, its component already runs the motion (both get the same frames).
    motion = (animator.run_motion if isinstance(animator, VtsAnimator)
              and not current().vts_enabled else None)
    component = AvatarComponent(store, motion=motion,
                                motion_wanted=lambda: current().avatar != "off")

    def saved(mode: str, path: Path) -> None:
        if save_settings is None:
            log.warning("avatar uploaded to %s, but there is no .env to point AVATAR_PATH at it",
                        path)
            return
        status, result = save_settings({"AVATAR": mode, "AVATAR_PATH": str(path)})
        if status != 200:
            log.error("avatar uploaded to %s, but the settings were not saved: %s", path, result)

    def routes(token: str, require_password: Callable[..., None]) -> APIRouter:
        router = avatar_router(store, require_password, on_saved=saved)
        # The set-up page (mode, uploads, preview, OBS URL); it carries this run's token.
        router.add_api_route("/avatar/setup", html_endpoint(page("avatar-setup.html", token)),
                             methods=["GET"], response_class=HTMLResponse,
                             include_in_schema=False)
        router.include_router(try_router(animator, require_password, say=say, busy=busy))
        return router

    return BuiltAvatar(component, routes)


def try_router(animator: Animator, require_password: Callable[..., None], *,
               say: Callable[[str], Awaitable[str]], busy: Callable[[], bool]) -> APIRouter:
    """POST /api/avatar/try: the set-up page's buttons — an emotion (held a few seconds, then
    neutral, like after a turn) and "말해 보기": a test sentence through the real voice, so the
    mouth follows the audio that plays; with no voice, a speech-like clip goes to the lip-sync
    alone (the page says so)."""
    router = APIRouter(dependencies=[Depends(require_password)])

    @router.post("/api/avatar/try")
    async def try_avatar(body: TryIn) -> JSONResponse:
        if busy():
            return JSONResponse({"error": "지금 답변 중이에요. 끝나면 다시 눌러 주세요."}, 409)
        if body.emotion is not None:
            animator.set_emotion(body.emotion)
        if not body.say:
            animator.set_speaking(False)  # held, then back to neutral
            return JSONResponse({"ok": True})
        animator.set_speaking(True)
        try:
            why = await say(TRY_SENTENCE)
            if why:
                await _mouth_only(animator)
        finally:
            animator.set_speaking(False)
        if why:
            log.info("avatar try: no voice (%s): the mouth moved alone", why)
        return JSONResponse({"ok": True, "spoken": not why,
                             "note": "목소리(TTS·오디오 출력)가 준비되지 않아 입 모양만 움직였어요. "
                                     "컨트롤 패널의 상태 줄에서 TTS와 오디오를 확인하세요." if why
                             else ""})

    return router


async def _mouth_only(animator: Animator, seconds: float = 2.4, rate: int = 24_000) -> None:
    """Syllable-like bursts (a 220 Hz tone under a 4 Hz envelope) into the lip-sync, as the
    audio output would hand them over while playing, in real time."""
    tap = getattr(animator, "audio_tap", None)
    if tap is None:
        return
    block = rate // 50  # 20 ms, like AUDIO_BLOCK_MS
    t = np.arange(int(seconds * rate)) / rate
    clip = (0.4 * np.sin(2 * np.pi * 220 * t) * np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 2)
    clip = clip.astype(np.float32)
    for start in range(0, clip.shape[0], block):
        tap(clip[start:start + block], rate, time.monotonic())  # the audio output's clock
        await asyncio.sleep(block / rate)
