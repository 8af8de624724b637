"""Which chat source runs, from CHAT_SOURCE and the CHZZK settings.

A CHZZK source that is asked for but cannot run (missing client id, secret or channel) does not
stop the daemon: local chat runs instead and the status row says what is missing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ..core.supervisor import Component
from ..settings.model import Settings
from .local import TerminalChatSource
from ..core.messages import Blind, ChatMessage

Accept = Callable[[ChatMessage], object]
Hide = Callable[[Blind], object]


@dataclass(slots=True)
class ChatSourcePlan:
    component: Component
    label: str
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


def missing_chzzk_settings(settings: Settings) -> list[str]:
    needed = {"CHZZK_CHANNEL_ID": settings.chzzk_channel_id}
    if settings.chat_source == "chzzk":
        needed |= {"CHZZK_CLIENT_ID": settings.chzzk_client_id,
                   "CHZZK_CLIENT_SECRET": settings.chzzk_client_secret}
    return [key for key, value in needed.items() if not value]


def build_chat_source(settings: Settings, accept: Accept,
                      hide: Hide = lambda blind: None) -> ChatSourcePlan:
    """`accept` gets every chat event; `hide` every message the platform took back (a blind)."""
    if settings.chat_source == "local":
        return ChatSourcePlan(TerminalChatSource(accept), "채팅 (로컬)")
    missing = missing_chzzk_settings(settings)
    if missing:
        notice = f"CHAT_SOURCE={settings.chat_source}: {', '.join(missing)} 설정이 없어 로컬 채팅으로 동작"
        return ChatSourcePlan(
            TerminalChatSource(accept, fallback_notice=notice,
                               fallback_hint=".env에 값을 넣고 다시 시작하세요 (README의 치지직 설정)"),
            "채팅 (로컬)")
    assert settings.chzzk_channel_id is not None
    if settings.chat_source == "chzzk-web":
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
