"""Which implementation each stage gets from the settings, and the status row that says so.

Parts that later issues build (Qwen3-TTS, audio out, VTube Studio) appear here as honest "준비 중"
rows until their code is wired in; the daemon never pretends they work. (Chat sources: chat/sources.py.)
"""

from __future__ import annotations

from dataclasses import dataclass

from .ai.character import CharacterPrompt
from .ai.groq_client import GroqClient
from .ai.llm_component import LlmComponent
from .ai.prompts import OutputFilter
from .ai.responder import GroqResponder
from .chat.filters import FilterConfig
from .chat.text_safety import load_banned_words
from .core.segmenter import SegmenterConfig
from .core.stages import StillAnimator, UnavailableAudio, UnavailableLLM, UnavailableSpeech
from .core.status import State, StatusBoard
from .core.turn import Stages
from .settings import Settings

NOT_BUILT = "이 버전에는 아직 없습니다"


@dataclass(frozen=True, slots=True)
class Row:
    """A status row: state, what it means, what to do (Korean, for the streamer)."""

    name: str
    label: str
    state: State
    detail: str
    hint: str = ""


LLM_LABEL = "AI 답변 (Groq)"


def llm_row(settings: Settings) -> Row:
    if settings.groq_api_key is None:
        return Row("llm", LLM_LABEL, State.NOT_CONFIGURED, "GROQ_API_KEY가 없습니다",
                   ".env에 GROQ_API_KEY를 넣으세요 (console.groq.com에서 발급)")
    return Row("llm", LLM_LABEL, State.STARTING, f"{settings.groq_model} 준비 중")


def build_llm(settings: Settings) -> LlmComponent:
    """The Groq responder (needs GROQ_API_KEY) wrapped as a supervised component."""
    assert settings.groq_api_key is not None
    client = GroqClient(
        api_key=settings.groq_api_key.get_secret_value(), base_url=settings.groq_base_url,
        model=settings.groq_model, reasoning_effort=settings.groq_reasoning_effort,
        timeout_s=settings.groq_timeout_s,
        on_status=lambda text: responder.report_rate_limit(text),  # bound below
    )
    responder = GroqResponder(
        client, CharacterPrompt(settings.character_path),
        OutputFilter(load_banned_words(settings.ai_banned_words_path)),
        max_answer_chars=settings.groq_max_answer_chars)
    return LlmComponent(responder, settings.history_dir,
                        keep_tokens=settings.history_keep_tokens,
                        summarize_at=settings.history_summarize_at,
                        limit_tokens=settings.history_limit_tokens)


def tts_row(settings: Settings) -> Row:
    if settings.tts_engine == "off":
        return Row("tts", "음성 합성 (TTS)", State.OFF, "TTS_ENGINE=off: 답변은 글로만 표시됩니다")
    engine = "로컬 Qwen3-TTS" if settings.tts_engine == "qwen" else "원격 TTS 서버"
    return Row("tts", "음성 합성 (TTS)", State.UNAVAILABLE, f"{engine} 엔진이 {NOT_BUILT}",
               "TTS_ENGINE=off로 두면 답변을 글로만 보여줍니다")


def audio_row(settings: Settings) -> Row:
    if settings.audio_output_device == "none" or settings.tts_engine == "off":
        return Row("audio", "오디오 출력", State.OFF, "소리를 내보내지 않습니다")
    return Row("audio", "오디오 출력", State.UNAVAILABLE,
               f"오디오 출력({settings.audio_output_device})이 {NOT_BUILT}")


def vts_row(settings: Settings) -> Row:
    if not settings.vts_enabled:
        return Row("vts", "VTube Studio", State.OFF, "VTS_ENABLED=false")
    return Row("vts", "VTube Studio", State.UNAVAILABLE, f"VTube Studio 연결이 {NOT_BUILT}",
               "VTS_ENABLED=false로 끌 수 있습니다")


def build_stages(settings: Settings, board: StatusBoard) -> tuple[Stages, list[LlmComponent]]:
    """The stages for the turn runner, plus the components the supervisor must run for them."""
    rows = (llm_row(settings), tts_row(settings), audio_row(settings), vts_row(settings))
    for row in rows:
        board.register(row.name, row.label, row.state, row.detail, row.hint)
    llm, tts, audio, _ = rows
    components = [build_llm(settings)] if settings.groq_api_key is not None else []
    stages = Stages(
        llm=components[0].responder if components else UnavailableLLM(llm.detail),
        tts=UnavailableSpeech(tts.detail),
        audio=UnavailableAudio(audio.detail),
        animator=StillAnimator(),
    )
    return stages, components


def filter_config(settings: Settings) -> FilterConfig:
    return FilterConfig(
        min_length=settings.chat_min_length,
        max_length=settings.chat_max_length,
        duplicate_window_s=settings.chat_duplicate_window_s,
        max_char_run=settings.chat_max_char_run,
        user_max_messages=settings.chat_user_max_messages,
        user_window_s=settings.chat_user_window_s,
        banned_words=load_banned_words(settings.banned_words_path),
        hide_streamer_chat=settings.hide_streamer_chat,
    )


def segmenter_config(settings: Settings) -> SegmenterConfig:
    return SegmenterConfig(min_chars=settings.segment_min_chars,
                           max_chars=settings.segment_max_chars)
