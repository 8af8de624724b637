"""CHZZK login from the control panel: the button goes to CHZZK's authorize page, CHZZK sends the
browser back to CHZZK_REDIRECT_URI (`/auth/chzzk/callback` on this daemon's own server), the code is
exchanged and the tokens saved (0600) — what `python -m aischoco auth chzzk` does, without a
terminal. The chat source picks the file up on its next (backed-off) start. Logout deletes it."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

from ..settings.model import Settings
from .chzzk_auth import AUTHORIZE_URL, HTTP_TIMEOUT_S, ChzzkApiError, authorize_url, exchange_code

log = logging.getLogger(__name__)

STATE_TTL_S = 600.0  # a login started and never finished stops being accepted after this


class ChzzkWebLogin:
    def __init__(self, settings: Callable[[], Settings], *,
                 authorize_base: str = AUTHORIZE_URL) -> None:
        self._settings = settings  # the current ones (the settings page may change them)
        self._authorize_base = authorize_base
        self._states: dict[str, float] = {}

    def start(self) -> tuple[str | None, str]:
        """(URL to send the browser to, or None; and why not)."""
        s = self._settings()
        if not s.chzzk_client_id or s.chzzk_client_secret is None:
            return None, "CHZZK_CLIENT_ID와 CHZZK_CLIENT_SECRET을 먼저 설정하세요 (치지직 개발자 센터)"
        now = time.monotonic()
        self._states = {k: t for k, t in self._states.items() if now - t < STATE_TTL_S}
        state = secrets.token_urlsafe(24)
        self._states[state] = now
        return authorize_url(s.chzzk_client_id, s.chzzk_redirect_uri, state,
                             self._authorize_base), ""

    async def complete(self, query: Mapping[str, str]) -> tuple[bool, str]:
        """The redirect back from CHZZK: (logged in?, what to tell the streamer)."""
        state, code = query.get("state", ""), query.get("code", "")
        if not state or self._states.pop(state, None) is None:
            return False, "로그인 요청이 맞지 않습니다 (오래되었거나 다른 창의 요청). 패널에서 다시 누르세요."
        if "error" in query or not code:
            return False, f"치지직이 로그인을 거절했습니다 ({query.get('error', '코드 없음')})"
        s = self._settings()
        try:
            async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S) as http:
                await exchange_code(http, s, code, state)
        except (ChzzkApiError, ValueError, OSError) as exc:
            log.warning("CHZZK login from the panel failed: %s", exc)
            return False, f"토큰을 받지 못했습니다: {exc}"
        log.info("CHZZK login from the panel: tokens saved to %s", s.chzzk_token_path)
        return True, "치지직 로그인 완료! 채팅을 곧 읽기 시작합니다. 이 창을 닫아도 됩니다."

    def logout(self) -> bool:
        path = Path(self._settings().chzzk_token_path)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        log.info("CHZZK logout from the panel: %s deleted", path)
        return True
