"""The built-in tools, all read-only: the time in Korea, the stream's own info from CHZZK, a
viewer's memory card, dice and a random pick for games with chat."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from .registry import Tool, ToolError

KST = timezone(timedelta(hours=9))
BUILTIN_NAMES = ("korea_time", "stream_info", "viewer_memory", "roll_dice", "pick_random")
_WEEKDAYS = "월화수목금토일"
MAX_DICE, MAX_SIDES, MAX_OPTIONS = 10, 1000, 50

Lookup = Callable[[str], Awaitable[list[dict[str, Any]]]]


def _object(properties: dict[str, Any] | None = None,
            required: Sequence[str] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties or {}, "required": list(required)}


def korean_time(now: datetime) -> str:
    t = now.astimezone(KST)
    half = "오전" if t.hour < 12 else "오후"
    hour = t.hour % 12 or 12
    return (f"{t.year}년 {t.month}월 {t.day}일 ({_WEEKDAYS[t.weekday()]}) {half} {hour}시 "
            f"{t.minute}분 (한국 시간)")


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60}시간 {minutes % 60}분" if minutes >= 60 else f"{minutes}분"


def describe_live(content: object, now: datetime) -> str:
    """CHZZK's live-detail `content` as one line for the model."""
    if not isinstance(content, dict) or content.get("status") != "OPEN":
        return "지금은 방송 중이 아닙니다"
    parts = [f"제목: {content.get('liveTitle') or '-'}"]
    category = content.get("liveCategoryValue") or content.get("liveCategory")
    if isinstance(category, str) and category:
        parts.append(f"카테고리: {category}")
    opened = content.get("openDate")
    if isinstance(opened, str):
        try:
            started = datetime.strptime(opened, "%Y-%m-%d %H:%M:%S").replace(tzinfo=KST)
        except ValueError:
            pass
        else:
            parts.append(f"방송 시간: {_duration(max(0.0, (now - started).total_seconds()))}째")
    viewers = content.get("concurrentUserCount")
    if isinstance(viewers, int) and not isinstance(viewers, bool):
        parts.append(f"지금 시청자: {viewers:,}명")
    return ", ".join(parts)


def describe_viewer(cards: list[dict[str, Any]], who: str) -> str:
    if not cards:
        return f"'{who}'(이)라는 시청자에 대한 기억이 없습니다"
    lines = []
    for card in cards[:3]:
        first = datetime.fromtimestamp(card["first_seen"], KST).strftime("%Y-%m-%d")
        line = (f"「{card['nickname']}」: 이번이 {card['visits']}번째 방송 방문, 처음 온 날 {first}, "
                f"메시지 {card['messages']}개")
        if card.get("donated"):
            line += f", 후원 합계 {card['donated']:,}치즈"
        facts = [f["text"] for f in card.get("facts", [])][:5]
        if facts:
            line += ", 아는 것: " + " / ".join(facts)
        lines.append(line)
    return "\n".join(lines)


def builtin_tools(*, channel_id: str | None, api_url: str, http: httpx.AsyncClient,
                  memory_lookup: Lookup | None,
                  clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                  rng: random.Random | None = None) -> list[Tool]:
    rng = rng or random.Random()

    async def korea_time(args: dict[str, Any]) -> str:
        return korean_time(clock())

    async def stream_info(args: dict[str, Any]) -> str:
        if not channel_id:
            raise ToolError("CHZZK_CHANNEL_ID가 설정되지 않아 방송 정보를 알 수 없습니다")
        url = f"{api_url.rstrip('/')}/service/v3/channels/{channel_id}/live-detail"
        try:
            response = await http.get(url)
            response.raise_for_status()
            content = response.json().get("content")
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            raise ToolError(f"치지직 방송 정보를 가져오지 못했습니다 ({type(exc).__name__})") from None
        return describe_live(content, clock())

    async def viewer_memory(args: dict[str, Any]) -> str:
        who = args.get("nickname")
        if not isinstance(who, str) or not who.strip():
            raise ToolError("nickname이 필요합니다")
        if memory_lookup is None:
            raise ToolError("시청자 기억이 꺼져 있습니다")
        return describe_viewer(await memory_lookup(who.strip()[:50]), who.strip()[:50])

    async def roll_dice(args: dict[str, Any]) -> str:
        sides, count = args.get("sides", 6), args.get("count", 1)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (sides, count)) \
                or not (2 <= sides <= MAX_SIDES and 1 <= count <= MAX_DICE):
            raise ToolError(f"sides는 2~{MAX_SIDES}, count는 1~{MAX_DICE}의 정수입니다")
        rolls = [rng.randint(1, sides) for _ in range(count)]
        return f"{sides}면체 주사위 {count}개: {', '.join(map(str, rolls))} (합 {sum(rolls)})"

    async def pick_random(args: dict[str, Any]) -> str:
        options = args.get("options")
        if not isinstance(options, list) or not 2 <= len(options) <= MAX_OPTIONS \
                or not all(isinstance(o, str) and o.strip() for o in options):
            raise ToolError(f"options는 글자 2~{MAX_OPTIONS}개의 목록입니다")
        return f"뽑힌 것: {rng.choice(options).strip()[:100]}"

    return [
        Tool("korea_time", "지금 한국의 날짜, 요일, 시각", _object(), korea_time),
        Tool("stream_info", "지금 이 치지직 방송의 제목, 카테고리, 방송한 시간, 시청자 수",
             _object(), stream_info),
        Tool("viewer_memory", "시청자에 대해 기억하는 것: 몇 번째 방문인지, 처음 온 날, 후원, 아는 사실",
             _object({"nickname": {"type": "string", "description": "시청자 닉네임"}},
                     ["nickname"]), viewer_memory),
        Tool("roll_dice", "주사위 굴리기 (채팅 게임용)",
             _object({"sides": {"type": "integer", "minimum": 2, "maximum": MAX_SIDES},
                      "count": {"type": "integer", "minimum": 1, "maximum": MAX_DICE}}), roll_dice),
        Tool("pick_random", "주어진 보기 중 하나를 무작위로 뽑기 (채팅 게임용)",
             _object({"options": {"type": "array", "items": {"type": "string"},
                                  "minItems": 2, "maxItems": MAX_OPTIONS}}, ["options"]),
             pick_random),
    ]
