"""Which saved settings take effect at once, and how (the settings page's "바로 적용").

Each entry: the keys, and what to do with the new settings when one of them changed: a setting
swapped in place, or a component rebuilt and restarted under the supervisor (only that one; its
status row shows it coming back). Everything else is saved for the next start (the page lists it
as "다시 시작하면 적용")."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from ..audio.output import AudioOutput
from ..chat.sources import NotConfigured, build_chat_sources
from ..core.status import State
from ..core.supervisor import Component, Supervisor
from ..settings.model import Settings
from ..settings.editor import Apply
from ..show.director import Director
from ..show.idle_talk import IdleTalkConfig
from ..show.intake import ChatIntake
from ..show.turn import Stages, TurnRunner
from ..ai.responder import GroqResponder
from .wiring import (LLM_LABEL, TTS_LABEL, build_llm, build_tts, filter_config, swap_llm_client,
                     tts_row)

LLM_KEYS = frozenset({"GROQ_API_KEY", "GROQ_BASE_URL", "GROQ_MODEL", "GROQ_TIMEOUT_S",
                      "GROQ_REASONING_EFFORT"})
AUDIO_KEYS = frozenset({"AUDIO_OUTPUT_DEVICE", "AUDIO_MONITOR_DEVICE"})
FILTER_KEYS = frozenset({"CHAT_MIN_LENGTH", "CHAT_MAX_LENGTH", "CHAT_DUPLICATE_WINDOW_S",
                         "CHAT_MAX_CHAR_RUN", "CHAT_USER_MAX_MESSAGES", "CHAT_USER_WINDOW_S",
                         "BANNED_WORDS_PATH", "HIDE_STREAMER_CHAT"})
QUEUE_KEYS = frozenset({"REPLY_QUEUE_SIZE", "REPLY_MAX_AGE_S", "REPLY_BATCH_SIZE"})
IDLE_KEYS = frozenset({"IDLE_TALK_AFTER_S", "IDLE_TALK_MIN_GAP_S", "TOPICS_PATH"})
CHAT_KEYS = frozenset({"CHAT_SOURCE", "CHZZK_CLIENT_ID", "CHZZK_CLIENT_SECRET", "CHZZK_CHANNEL_ID",
                       "CHZZK_OPENAPI_URL", "CHZZK_TOKEN_PATH", "CHZZK_WEB_API_URL",
                       "CHZZK_WEB_GAME_API_URL", "CHZZK_WEB_CHAT_URL", "YOUTUBE_CHANNEL_ID",
                       "YOUTUBE_VIDEO_ID", "YOUTUBE_API_URL", "YOUTUBE_WEB_URL", "YOUTUBE_API_KEY",
                       "SOOP_CHANNEL_ID", "SOOP_LIVE_API_URL", "SOOP_CHAT_URL",
                       "DONATION_KRW_RATES"})
TTS_KEYS = frozenset({"TTS_ENGINE", "TTS_REMOTE_URL", "TTS_REMOTE_MODEL", "TTS_REMOTE_VOICE",
                      "TTS_REMOTE_API_KEY", "TTS_REMOTE_SEND_REFERENCE", "TTS_REMOTE_TIMEOUT_S"})
OVERLAY_KEYS = frozenset({"OVERLAY_HOST", "OVERLAY_PORT", "PANEL_PASSWORD"})
# The avatar component reads AVATAR / AVATAR_PATH from the live settings every second.
AVATAR_KEYS = frozenset({"AVATAR", "AVATAR_PATH"})
MOVE_AFTER_S = 0.5  # the overlay server moves this long after it answered the save


@dataclass
class Restarts:
    """What rebuilding a component needs: the supervisor, and the makers of the parts."""

    supervisor: Callable[[], Supervisor]  # built after the editor: looked up when used
    overlay_server: Callable[[Settings], Component]
    attach_llm: Callable[[GroqResponder], None] = lambda responder: None  # memory, tools, vision
    chat_names: set[str] = field(default_factory=set)  # the chat rows running (one per platform)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def restart(self, component: Component, label: str, *, delay_s: float = 0.0,
                closers: list[Callable[[], Coroutine[Any, Any, None]]] | None = None) -> None:
        async def swap() -> None:
            await asyncio.sleep(delay_s)
            await self.supervisor().replace(component, label, closers=closers)
        task = asyncio.get_running_loop().create_task(swap(), name=f"restart-{component.name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def live_appliers(stages: Stages, intake: ChatIntake, director: Director, runner: TurnRunner,
                  restarts: Restarts) -> list[tuple[frozenset[str], Apply]]:
    def llm(new: Settings) -> bool:
        if swap_llm_client(stages.llm, new):
            return True
        if new.groq_api_key is None or isinstance(stages.llm, GroqResponder):
            return False
        # The first key (a new streamer's first run): the LLM starts now, nothing else restarts.
        component = build_llm(new)
        restarts.attach_llm(component.responder)
        stages.llm = component.responder
        restarts.restart(component, LLM_LABEL, closers=[component.aclose])
        return True

    def audio(new: Settings) -> bool:
        if not isinstance(stages.audio, AudioOutput) or new.audio_output_device is None:
            return False
        stages.audio.switch(new.audio_output_device, new.audio_monitor_device)
        return True

    def filters(new: Settings) -> None:
        intake.set_hide_streamer_chat(new.hide_streamer_chat)
        intake.replace_filter_config(filter_config(new))

    def queue(new: Settings) -> None:
        director.queue.max_size, director.queue.max_age_s = (new.reply_queue_size,
                                                             new.reply_max_age_s)
        director.batch_size = new.reply_batch_size

    def idle(new: Settings) -> bool:
        if director.idle is None:
            return False
        was_on = director.idle.enabled
        director.idle.config = IdleTalkConfig(new.idle_talk_after_s, new.idle_talk_min_gap_s,
                                              new.topics_path)
        director.idle.set_enabled(was_on or director.idle.config.after_s > 0)
        director.wake()
        return True

    def tiers(new: Settings) -> None:
        runner.donation_tiers = tuple(new.donation_tiers)

    def chat(new: Settings) -> None:
        plans = build_chat_sources(new, intake.accept, intake.hide)
        for plan in plans:
            restarts.restart(plan.component, plan.label, closers=list(plan.closers))
        names = {plan.component.name for plan in plans}
        for gone in sorted(restarts.chat_names - names):  # taken out of CHAT_SOURCE: its row off
            restarts.restart(NotConfigured(gone, "CHAT_SOURCE에서 뺐습니다", "", State.OFF), gone)
        restarts.chat_names = names

    def tts(new: Settings) -> bool:
        if new.tts_engine != "remote" or tts_row(new).state is not State.STARTING:
            return False  # off, or the local model (a long load): at the next start
        engine = build_tts(new)
        runner.replace_tts(engine)
        restarts.restart(engine, TTS_LABEL, closers=[engine.aclose])
        return True

    def overlay(new: Settings) -> None:
        restarts.restart(restarts.overlay_server(new), "오버레이 서버", delay_s=MOVE_AFTER_S)

    return [(LLM_KEYS, llm), (AUDIO_KEYS, audio), (FILTER_KEYS, filters), (QUEUE_KEYS, queue),
            (IDLE_KEYS, idle), (frozenset({"DONATION_TIERS"}), tiers), (CHAT_KEYS, chat),
            (TTS_KEYS, tts), (OVERLAY_KEYS, overlay), (AVATAR_KEYS, lambda new: True)]

