"""Chat → Groq end to end, without the daemon: type chat lines, get in-character answers.

    GROQ_API_KEY=gsk_... python examples/chzzk_groq_example.py
    (any OpenAI-compatible server works: GROQ_BASE_URL=http://127.0.0.1:8080/v1)

It uses the daemon's own parts — settings, filters, prompts, memory (history/) — so what you see
is what the stream gets. CHZZK chat comes with its own source; until then lines typed here stand in
for it ("닉네임> 메시지" chats as that nickname).
"""

from __future__ import annotations

import asyncio
import sys
import time

from aischoco.ai.conversation import ConversationMemory
from aischoco.chat.filters import ChatFilter
from aischoco.chat.local import line_to_message
from aischoco.settings.model import SettingsError, load_settings
from aischoco.compose.wiring import build_llm, filter_config


async def main() -> int:
    try:
        settings = load_settings(".env")
    except SettingsError as err:
        print(err)
        return 2
    if settings.groq_api_key is None:
        print("GROQ_API_KEY를 .env나 환경 변수에 넣어 주세요.")
        return 2
    responder = build_llm(settings).responder
    responder.memory = await ConversationMemory.open(
        settings.history_dir, responder.summarize, keep_tokens=settings.history_keep_tokens,
        summarize_at=settings.history_summarize_at, limit_tokens=settings.history_limit_tokens)
    chat_filter = ChatFilter(filter_config(settings))
    print(f"{settings.groq_model} 연결. 채팅을 입력하세요 (Ctrl-D로 끝).")
    try:
        while True:
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                break
            msg = line_to_message(line)
            if msg is None:
                continue
            verdict = chat_filter.check(msg, time.monotonic())
            if not verdict.accepted:
                print(f"(필터: {verdict.reason.value if verdict.reason else '?'})")
                continue
            msg.llm_text = verdict.llm_text
            try:
                answer = await responder.reply([msg])
                await responder.remember([msg], answer, answer.response)  # all of it was shown
            except Exception as exc:  # noqa: BLE001 - an example shows the error and goes on
                print(f"(실패: {exc})")
                continue
            print(f"[{answer.emotion}] {answer.response}  ({answer.processing_time * 1000:.0f} ms)")
    finally:
        await responder.memory.aclose()
        await responder.client.aclose()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
