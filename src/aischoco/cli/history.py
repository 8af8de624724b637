"""`python -m aischoco history show|summarize|backup|reset` (run while the daemon is stopped:
a running daemon rewrites the files after its next turn)."""

from __future__ import annotations

import asyncio

from ..settings.model import Settings
from ..ai import history_store
from ..ai.tokens import load_counter

SHOW_LAST = 20


def run_history_command(settings: Settings, action: str) -> int:
    directory = settings.history_dir
    if action == "backup":
        try:
            print(f"백업했습니다: {history_store.backup(directory)}")
        except FileNotFoundError:
            print(f"백업할 기록이 없습니다 ({directory})")
        return 0
    if action == "reset":
        saved = history_store.reset(directory, backup_first=True)
        print("대화 기록을 지웠습니다." + (f" 이전 기록은 {saved} 에 백업했습니다." if saved else ""))
        return 0
    if action == "summarize":
        return asyncio.run(_summarize(settings))
    return _show(settings)


def _limits(settings: Settings) -> dict[str, int]:
    return {"keep_tokens": settings.history_keep_tokens,
            "summarize_at": settings.history_summarize_at,
            "limit_tokens": settings.history_limit_tokens}


def _show(settings: Settings) -> int:
    window, warnings = history_store.load(settings.history_dir, load_counter(), **_limits(settings))
    for warning in warnings:
        print(f"경고: {warning}")
    print(f"기록 폴더: {settings.history_dir}")
    print(f"최근 대화: {len(window)}개 메시지, {window.total_tokens} 토큰 "
          f"(유지 {window.keep_tokens} / 요약 시작 {window.summarize_at} / 최대 {window.limit_tokens})")
    if window.summary:
        print(f"\n[요약] ({window.summary_timestamp}, 메시지 {window.summarized_messages}개)")
        print(window.summary)
    entries = window.entries[-SHOW_LAST:]
    if entries:
        print(f"\n[최근 {len(entries)}개]")
        for entry in entries:
            who = "시청자" if entry.role == "user" else "AI"
            print(f"{entry.timestamp} {who} ({entry.tokens} 토큰): {entry.content}")
    return 0


async def _summarize(settings: Settings) -> int:
    if settings.groq_api_key is None:
        print("요약하려면 GROQ_API_KEY가 필요합니다.")
        return 2
    from ..compose.wiring import build_llm  # the daemon's own client, prompt and memory rules
    from ..ai.groq_client import LLMError
    from ..ai.conversation import ConversationMemory

    component = build_llm(settings)
    responder = component.responder
    try:
        memory = await ConversationMemory.open(settings.history_dir, responder.summarize,
                                               **_limits(settings))
        before = len(memory.window)
        try:
            done = await memory.summarize_now()
        except LLMError as exc:
            print(f"요약 실패: {exc}")
            return 1
        if not done:
            print(f"요약할 만큼 쌓이지 않았거나 요약에 실패했습니다 "
                  f"({memory.window.total_tokens} 토큰 ≤ 유지 {memory.window.keep_tokens})")
            return 0
        print(f"요약했습니다: 메시지 {before - len(memory.window)}개 → summary.json")
        return 0
    finally:
        await responder.client.aclose()
