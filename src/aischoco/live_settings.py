"""Which saved settings take effect at once, and how (the settings page's "바로 적용").

Each entry: the keys, and what to do with the new settings when one of them changed. Everything
else is saved for the next start (the page lists it as "다시 시작하면 적용")."""

from __future__ import annotations

from .audio.output import AudioOutput
from .settings import Settings
from .settings_editor import Apply
from .show.director import Director
from .show.idle_talk import IdleTalkConfig
from .show.intake import ChatIntake
from .show.turn import Stages, TurnRunner
from .wiring import filter_config, swap_llm_client

LLM_KEYS = frozenset({"GROQ_API_KEY", "GROQ_BASE_URL", "GROQ_MODEL", "GROQ_TIMEOUT_S",
                      "GROQ_REASONING_EFFORT"})
AUDIO_KEYS = frozenset({"AUDIO_OUTPUT_DEVICE", "AUDIO_MONITOR_DEVICE"})
FILTER_KEYS = frozenset({"CHAT_MIN_LENGTH", "CHAT_MAX_LENGTH", "CHAT_DUPLICATE_WINDOW_S",
                         "CHAT_MAX_CHAR_RUN", "CHAT_USER_MAX_MESSAGES", "CHAT_USER_WINDOW_S",
                         "BANNED_WORDS_PATH", "HIDE_STREAMER_CHAT"})
QUEUE_KEYS = frozenset({"REPLY_QUEUE_SIZE", "REPLY_MAX_AGE_S", "REPLY_BATCH_SIZE"})
IDLE_KEYS = frozenset({"IDLE_TALK_AFTER_S", "IDLE_TALK_MIN_GAP_S", "TOPICS_PATH"})


def live_appliers(stages: Stages, intake: ChatIntake, director: Director,
                  runner: TurnRunner) -> list[tuple[frozenset[str], Apply]]:
    def llm(new: Settings) -> bool:
        return swap_llm_client(stages.llm, new)

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

    return [(LLM_KEYS, llm), (AUDIO_KEYS, audio), (FILTER_KEYS, filters), (QUEUE_KEYS, queue),
            (IDLE_KEYS, idle), (frozenset({"DONATION_TIERS"}), tiers)]

