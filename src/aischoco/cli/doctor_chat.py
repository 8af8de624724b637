"""`doctor`'s chat rows — one per platform in CHAT_SOURCE (치지직 / YouTube / SOOP / 로컬) — and
the settings page's 연결 확인 buttons, which run the same checks (`platform_check`).

YouTube and SOOP are looked at the way their chat sources look for the live (the sources' own
``look()``: the same request, the same parsing, the same Korean reasons), once, bounded by
:data:`LOOK_TIMEOUT_S`. A channel that is not live is a WARN, not an error: the daemon waits and
joins the live when it starts.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from ..chat.reconnect import Reconnect
from ..chat.sources import NotConfigured, build_chat_sources, chzzk_source, missing_chzzk_settings
from ..settings.model import Settings
from .doctor_checks import Check, Level, http_status

LOOK_TIMEOUT_S = 8.0  # one platform's whole check (a YouTube live page is large)
REQUEST_TIMEOUT_S = 5.0
ROWS = {"chzzk": "채팅 (치지직)", "youtube": "채팅 (YouTube)", "soop": "채팅 (SOOP)",
        "local": "채팅 (로컬)"}
WAITS = "방송 중이 아닙니다 — 방송을 켜면 자동으로 붙습니다"
# The settings page's buttons (overlay/requests.TestIn.what) → the platform they check.
TESTS = {"chat_youtube": "youtube", "chat_soop": "soop"}


async def chat_checks(settings: Settings) -> list[Check]:
    """One row per platform CHAT_SOURCE lists, in its order."""
    platforms = list(dict.fromkeys("chzzk" if name.startswith("chzzk") else name
                                   for name in settings.chat_sources))
    return list(await asyncio.gather(*(platform_check(p, settings) for p in platforms)))


async def chat_test(what: str, settings: Settings) -> list[Check]:
    """The settings page: ``chat`` = CHZZK (or local chat when no CHZZK is listed), as it always
    was; ``chat_youtube`` / ``chat_soop`` = that platform, listed in CHAT_SOURCE or not yet."""
    if what == "chat":
        if chzzk_source(settings) is None:
            return [_local(settings, chzzk_hint=True)]
        return [await platform_check("chzzk", settings)]
    return [await platform_check(TESTS[what], settings)]


async def platform_check(platform: str, settings: Settings) -> Check:
    if platform == "chzzk":
        return await _chzzk(settings)
    if platform == "local":
        return _local(settings)
    check = await (_youtube(settings) if platform == "youtube" else _soop(settings))
    if platform not in settings.chat_sources:  # the page's button before CHAT_SOURCE lists it
        todo = f"CHAT_SOURCE에 {platform}을(를) 넣어야 이 채팅을 읽습니다"
        check = Check(check.component, check.level, check.detail,
                      f"{check.todo} · {todo}" if check.todo else todo)
    return check


def _local(settings: Settings, *, chzzk_hint: bool = False) -> Check:
    alone = settings.chat_sources == ("local",)
    hint = "치지직 채팅: CHZZK_CLIENT_ID / CHZZK_CLIENT_SECRET / CHZZK_CHANNEL_ID 설정"
    if alone:
        hint += " · YouTube/SOOP: CHAT_SOURCE에 youtube, soop"
    return Check(ROWS["local"], Level.OK, "로컬 채팅 (터미널 · 컨트롤 패널)",
                 hint if alone or chzzk_hint else "")


def _component(settings: Settings, platform: str) -> object:
    """The chat source the daemon would run for `platform` alone (nothing is started)."""
    alone = settings.model_copy(update={"chat_source": platform})
    return build_chat_sources(alone, lambda msg: None)[0].component


def _unreachable(exc: BaseException, what: str) -> tuple[str, str]:
    """(detail, todo) for a look that got no answer it could read."""
    if isinstance(exc, httpx.HTTPStatusError):
        code = exc.response.status_code
        if code == 429:
            return f"{what}가 요청이 너무 많다고 답함 (HTTP 429)", "잠시 뒤 다시 확인하세요"
        return f"{what}가 오류로 답함 (HTTP {code})", "잠시 뒤 다시 확인하세요"
    kind = "시간 초과" if isinstance(exc, TimeoutError | httpx.TimeoutException) else type(exc).__name__
    return f"{what}에 연결 안 됨 ({kind})", "인터넷 연결과 방화벽을 확인하세요"


async def _youtube(settings: Settings) -> Check:
    from ..chat.youtube import YouTubeChat

    row = ROWS["youtube"]
    source = _component(settings, "youtube")
    if isinstance(source, NotConfigured):
        return Check(row, Level.ERROR, source.detail, source.hint)
    assert isinstance(source, YouTubeChat)
    where = f"YouTube {source.target.value} ({source.way})"
    try:
        page, chat = await asyncio.wait_for(source.look(REQUEST_TIMEOUT_S), LOOK_TIMEOUT_S)
    except Reconnect as exc:  # no such channel, a refused key, a spent quota
        return Check(row, Level.ERROR, f"{where}: {exc}", exc.hint)
    except (httpx.HTTPError, TimeoutError, OSError) as exc:
        detail, todo = _unreachable(exc, "YouTube")
        return Check(row, Level.ERROR, f"{where}: {detail}",
                     f"{todo} (주소: {settings.youtube_web_url})")
    if page.is_live and page.video_id:
        live = f"방송 중 \"{page.title[:60] or page.video_id}\" ({page.video_id})"
        if chat:
            return Check(row, Level.OK, f"{where}: {live} — 채팅을 읽을 수 있습니다")
        return Check(row, Level.WARN, f"{where}: {live}, 그런데 실시간 채팅이 꺼져 있거나 찾지 못했습니다",
                     "YouTube 스튜디오에서 이 방송의 실시간 채팅을 켜세요 (켜면 자동으로 붙습니다)")
    if page.is_upcoming:
        return Check(row, Level.WARN, f"{where}: 예정된 방송이 아직 시작 전입니다 — 시작하면 자동으로 붙습니다")
    return Check(row, Level.WARN, f"{where}: {WAITS}")


async def _soop(settings: Settings) -> Check:
    from ..chat.soop import SoopChat

    row = ROWS["soop"]
    source = _component(settings, "soop")
    if isinstance(source, NotConfigured):
        return Check(row, Level.ERROR, source.detail, source.hint)
    assert isinstance(source, SoopChat)
    where = f"SOOP {source.bid} (비공식, 읽기 전용)"
    try:
        info = await asyncio.wait_for(source.look(REQUEST_TIMEOUT_S), LOOK_TIMEOUT_S)
    except Reconnect as exc:  # an answer that is not SOOP's live info
        return Check(row, Level.ERROR, f"{where}: {exc}",
                     "SOOP가 방식을 바꿨을 수 있습니다 (비공식) — SOOP_LIVE_API_URL과 새 버전을 확인하세요")
    except (httpx.HTTPError, TimeoutError, OSError) as exc:
        detail, todo = _unreachable(exc, "SOOP 방송 정보")
        return Check(row, Level.ERROR, f"{where}: {detail}",
                     f"{todo} (주소: {settings.soop_live_api_url})")
    live = f"방송 중 \"{info.title[:60] or info.broadcast_no}\""
    if info.live and info.password:
        return Check(row, Level.WARN, f"{where}: {live} — 비밀번호 방송입니다",
                     "로그인 없이 읽는 비공식 채팅이라 비밀번호 방송의 채팅은 거절될 수 있습니다 "
                     "(비밀번호를 풀면 읽습니다)")
    if info.live:
        return Check(row, Level.OK, f"{where}: {live} — 채팅을 읽을 수 있습니다")
    if info.result == -6:
        return Check(row, Level.WARN, f"{where}: 연령 제한 방송이라 로그인 없이 채팅을 읽을 수 없습니다",
                     "SOOP의 연령 제한을 풀면 읽습니다 (비공식 읽기 전용은 로그인하지 않습니다)")
    if info.result == 1:
        return Check(row, Level.WARN, f"{where}: 방송 중이지만 채팅 서버 정보가 없습니다",
                     "잠시 뒤 다시 확인하세요 (데몬은 계속 다시 시도합니다)")
    if info.result < 0:
        return Check(row, Level.WARN, f"{where}: SOOP가 방송 정보를 주지 않았습니다 (RESULT {info.result})",
                     "데몬은 계속 다시 확인합니다")
    return Check(row, Level.WARN, f"{where}: {WAITS}",
                 f"아이디가 맞는지도 확인하세요 (방송 주소 play.sooplive.co.kr/{source.bid})")


async def _chzzk(settings: Settings) -> Check:
    row = ROWS["chzzk"]
    chzzk = chzzk_source(settings)
    missing = missing_chzzk_settings(settings)
    if missing:
        return Check(row, Level.ERROR, f"CHAT_SOURCE={chzzk}: {', '.join(missing)} 없음",
                     ".env에 넣으세요 (없으면 로컬 채팅으로 동작)")
    if chzzk == "chzzk-web":
        url = f"{settings.chzzk_web_api_url}/polling/v2/channels/{settings.chzzk_channel_id}/live-status"
        status, reach = await http_status(url)
        return Check(row, Level.OK if status == 200 else Level.WARN,
                     f"치지직 웹 채팅 (비공식, 읽기 전용): {reach}")
    from ..chat.chzzk_auth import AuthRequired, load_tokens

    try:
        tokens = load_tokens(settings.chzzk_token_path)
    except AuthRequired as exc:
        return Check(row, Level.ERROR, str(exc), "python -m aischoco auth chzzk")
    if tokens is None:
        return Check(row, Level.ERROR, f"치지직 로그인 필요 ({settings.chzzk_token_path} 없음)",
                     "python -m aischoco auth chzzk 를 실행하세요")
    _, reach = await http_status(settings.chzzk_openapi_url)
    left_h = (tokens.expires_at - time.time()) / 3600
    expiry = f"토큰 {left_h:.0f}시간 남음" if left_h > 0 else "토큰 만료됨 (시작할 때 자동 갱신)"
    return Check(row, Level.OK, f"치지직 Open API {settings.chzzk_openapi_url}: {reach} · {expiry}")
