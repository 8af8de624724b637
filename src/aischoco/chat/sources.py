"""Which chat sources run, from CHAT_SOURCE (a comma list: one room made of every platform's chat)
and each platform's settings.

Every platform is its own supervised component with its own status row, reconnect and back-off:
one failing never stops the others. Rows: ``chat`` (CHZZK, or the terminal when no CHZZK is
listed), ``chat_youtube``, ``chat_soop``, ``chat_local`` (the terminal beside CHZZK).

A CHZZK source that is asked for but cannot run (missing client id, secret or channel) does not
stop the daemon: local chat runs instead and the status row says what is missing. A YouTube or
SOOP source without its channel says so on its own row ("설정 필요") and the rest runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ..core.messages import Blind, ChatMessage
from ..core.status import State, StatusHandle
from ..core.supervisor import Component
from ..settings.model import Settings
from .addresses import NotAnAddress, soop_channel_id, youtube_target
from .local import TerminalChatSource

log = logging.getLogger(__name__)

Accept = Callable[[ChatMessage], object]
Hide = Callable[[Blind], object]

# Every row a chat source can have (a platform taken out of CHAT_SOURCE by the settings page is
# switched off under its name).
CHAT_ROWS = {"chat": "채팅", "chat_local": "채팅 (로컬)", "chat_youtube": "채팅 (YouTube)",
             "chat_soop": "채팅 (SOOP, 비공식)"}


@dataclass(slots=True)
class ChatSourcePlan:
    component: Component
    label: str
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


class NotConfigured:
    """A listed platform that cannot run yet: its row says what is missing, nothing else stops."""

    def __init__(self, name: str, detail: str, hint: str, state: State = State.NOT_CONFIGURED) -> None:
        self.name, self.detail, self.hint, self._state = name, detail, hint, state

    async def run(self, status: StatusHandle) -> None:
        status.set(self._state, self.detail, self.hint)
        await asyncio.Event().wait()


def chzzk_source(settings: Settings) -> str | None:
    """``chzzk`` / ``chzzk-web`` when CHAT_SOURCE lists one (at most one can be listed)."""
    return next((s for s in settings.chat_sources if s in ("chzzk", "chzzk-web")), None)


def missing_chzzk_settings(settings: Settings) -> list[str]:
    """What a listed CHZZK source still needs (nothing when CHAT_SOURCE lists no CHZZK)."""
    chzzk = chzzk_source(settings)
    if chzzk is None:
        return []
    needed = {"CHZZK_CHANNEL_ID": settings.chzzk_channel_id}
    if chzzk == "chzzk":
        needed |= {"CHZZK_CLIENT_ID": settings.chzzk_client_id,
                   "CHZZK_CLIENT_SECRET": settings.chzzk_client_secret}
    return [key for key, value in needed.items() if not value]


def build_chat_sources(settings: Settings, accept: Accept,
                       hide: Hide = lambda blind: None) -> list[ChatSourcePlan]:
    """One plan per listed platform, in CHAT_SOURCE's order (CHZZK's row first)."""
    plans: list[ChatSourcePlan] = []
    chzzk = chzzk_source(settings)
    if chzzk is not None:
        plans.append(_chzzk(settings, chzzk, accept, hide))
    reads_terminal = any(isinstance(p.component, TerminalChatSource) for p in plans)
    if "local" in settings.chat_sources and not reads_terminal:  # one reader of the terminal
        terminal = TerminalChatSource(accept)
        if chzzk is not None:
            terminal.name = "chat_local"
        plans.append(ChatSourcePlan(terminal, "채팅 (로컬)"))
    if "youtube" in settings.chat_sources:
        plans.append(_youtube(settings, accept, hide))
    if "soop" in settings.chat_sources:
        plans.append(_soop(settings, accept))
    return plans


def build_chat_source(settings: Settings, accept: Accept,
                      hide: Hide = lambda blind: None) -> ChatSourcePlan:
    """The first source only (a single-platform CHAT_SOURCE); kept for callers of one source."""
    return build_chat_sources(settings, accept, hide)[0]


def _chzzk(settings: Settings, chzzk: str, accept: Accept, hide: Hide) -> ChatSourcePlan:
    missing = missing_chzzk_settings(settings)
    if missing:
        notice = f"CHAT_SOURCE={chzzk}: {', '.join(missing)} 설정이 없어 로컬 채팅으로 동작"
        return ChatSourcePlan(
            TerminalChatSource(accept, fallback_notice=notice,
                               fallback_hint=".env에 값을 넣고 다시 시작하세요 (README의 치지직 설정)"),
            "채팅 (로컬)")
    assert settings.chzzk_channel_id is not None
    if chzzk == "chzzk-web":
        from .chzzk_web import ChzzkWebChat

        return ChatSourcePlan(
            ChzzkWebChat(accept, hide=hide, channel_id=settings.chzzk_channel_id,
                         api_url=settings.chzzk_web_api_url,
                         game_api_url=settings.chzzk_web_game_api_url,
                         chat_url_template=settings.chzzk_web_chat_url),
            "채팅 (치지직 웹, 비공식)")
    from .chzzk_auth import ChzzkTokens
    from .chzzk_official import ChzzkOfficialChat

    assert settings.chzzk_client_id is not None and settings.chzzk_client_secret is not None
    tokens = ChzzkTokens(base_url=settings.chzzk_openapi_url, client_id=settings.chzzk_client_id,
                         client_secret=settings.chzzk_client_secret.get_secret_value(),
                         path=settings.chzzk_token_path)
    return ChatSourcePlan(
        ChzzkOfficialChat(accept, base_url=settings.chzzk_openapi_url,
                          channel_id=settings.chzzk_channel_id, tokens=tokens),
        "채팅 (치지직)", closers=[tokens.aclose])


def _youtube(settings: Settings, accept: Accept, hide: Hide) -> ChatSourcePlan:
    from .youtube import NAME, YouTubeChat

    label = CHAT_ROWS[NAME] + ("" if settings.youtube_api_key else " · 웹 채팅, 비공식")
    given = settings.youtube_video_id or settings.youtube_channel_id
    key = "YOUTUBE_VIDEO_ID" if settings.youtube_video_id else "YOUTUBE_CHANNEL_ID"
    if not given:
        return ChatSourcePlan(NotConfigured(
            NAME, "CHAT_SOURCE에 youtube가 있지만 YOUTUBE_CHANNEL_ID가 없습니다",
            "YOUTUBE_CHANNEL_ID에 채널 주소(https://www.youtube.com/@핸들)나 UC…로 시작하는 채널 ID를 넣으세요"),
            label)
    try:
        target = youtube_target(given, video=bool(settings.youtube_video_id))
    except NotAnAddress as exc:
        return ChatSourcePlan(NotConfigured(NAME, f"{key}: {exc}", f"{key}를 고치고 다시 시작하세요"),
                              label)
    if target.value != given.strip():
        log.info("setting %s: read %s %s from %r", key, target.kind, target.value, given)
    api_key = settings.youtube_api_key.get_secret_value() if settings.youtube_api_key else None
    return ChatSourcePlan(YouTubeChat(accept, hide=hide, target=target,
                                      web_url=settings.youtube_web_url,
                                      api_url=settings.youtube_api_url, api_key=api_key,
                                      rates=settings.krw_rates), label)


def _soop(settings: Settings, accept: Accept) -> ChatSourcePlan:
    from .soop import NAME, SoopChat

    label = CHAT_ROWS[NAME]
    if not settings.soop_channel_id:
        return ChatSourcePlan(NotConfigured(
            NAME, "CHAT_SOURCE에 soop이 있지만 SOOP_CHANNEL_ID가 없습니다",
            "SOOP_CHANNEL_ID에 방송국 아이디나 방송 주소(https://play.sooplive.co.kr/아이디)를 넣으세요"),
            label)
    try:
        bid = soop_channel_id(settings.soop_channel_id)
    except NotAnAddress as exc:
        return ChatSourcePlan(NotConfigured(NAME, f"SOOP_CHANNEL_ID: {exc}",
                                            "SOOP_CHANNEL_ID를 고치고 다시 시작하세요"), label)
    if bid != settings.soop_channel_id.strip():
        log.info("setting SOOP_CHANNEL_ID: read %s from %r", bid, settings.soop_channel_id)
    return ChatSourcePlan(SoopChat(accept, bid=bid, live_api_url=settings.soop_live_api_url,
                                   chat_url_template=settings.soop_chat_url,
                                   rates=settings.krw_rates), label)
