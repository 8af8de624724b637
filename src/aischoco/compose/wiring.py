"""Which implementation each stage gets from the settings, and the status row that says so.

A part that is switched off, not installed or not built yet appears as an honest status
row with what to do; the daemon never pretends it works. (Chat sources: chat/sources.py.)
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ..ai.character import CharacterPrompt
from ..ai.budget import ModelChain, parse_fallback_models
from ..ai.groq_client import GroqClient
from ..ai.llm_component import LlmComponent
from ..ai.prompts import OutputFilter
from ..ai.responder import GroqResponder
from ..chat.filters import FilterConfig
from ..core.messages import ChatMessage
from ..chat.text_safety import load_banned_words
from ..core.segmenter import SegmenterConfig
from ..audio.output import AudioOutput
from ..core.stages import (AudioOutputPort, LanguageModel, SpeechEngine, UnavailableAudio, UnavailableLLM, UnavailableSpeech)
from ..core.status import State, StatusBoard
from ..core.supervisor import ClosableComponent  # the stages' parts have aclose()
from ..show.idle_talk import IdleTalk, IdleTalkConfig
from ..show.turn import Stages
from ..settings.model import Settings
from ..vtuber.animator import VtsAnimator
from ..vtuber.params_feed import ParamsFeed

if TYPE_CHECKING:  # the voice-input modules load numpy/onnx parts only when voice input is on
    from ..vision.component import Vision
    from ..memory.component import ViewerMemory
    from ..listen.listener import VoiceListener

log = logging.getLogger(__name__)

class SpeechComponent(SpeechEngine, ClosableComponent, Protocol):
    """A TTS engine that is also a supervised component (it loads or probes in `run`)."""


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


def groq_client(settings: Settings, on_status: Callable[[str], None]) -> GroqClient:
    assert settings.groq_api_key is not None
    return GroqClient(
        api_key=settings.groq_api_key.get_secret_value(), base_url=settings.groq_base_url,
        model=settings.groq_model, reasoning_effort=settings.groq_reasoning_effort,
        timeout_s=settings.groq_timeout_s, on_status=on_status)


def model_chain(settings: Settings) -> ModelChain:
    """GROQ_MODEL, then GROQ_FALLBACK_MODELS, each with its own free-plan budget."""
    return ModelChain([settings.groq_model,
                       *parse_fallback_models(settings.groq_fallback_models)])


def swap_llm_client(llm: LanguageModel, settings: Settings) -> bool:
    """New LLM settings from the panel: the next answer uses a new client (the old one is
    closed once the loop gets to it). False when there is no Groq responder to change."""
    if not isinstance(llm, GroqResponder) or settings.groq_api_key is None:
        return False
    old, llm.client = llm.client, groq_client(settings, llm.report_rate_limit)
    if llm.chain is None or llm.chain.models != model_chain(settings).models:
        llm.chain = model_chain(settings)
    asyncio.get_running_loop().create_task(old.aclose(), name="close-old-llm-client")
    if llm.status is not None:
        llm.status.set(State.RUNNING, f"{settings.groq_model} 준비됨 (설정 바뀜)")
    return True


def build_llm(settings: Settings) -> LlmComponent:
    """The Groq responder (needs GROQ_API_KEY) wrapped as a supervised component."""
    client = groq_client(settings, lambda text: responder.report_rate_limit(text))  # bound below
    responder = GroqResponder(
        client, CharacterPrompt(settings.character_path, settings.chat_sources),
        OutputFilter(load_banned_words(settings.ai_banned_words_path)),
        max_answer_chars=settings.groq_max_answer_chars, stream=settings.groq_stream)
    responder.chain = model_chain(settings)
    return LlmComponent(responder, settings.history_dir,
                        keep_tokens=settings.history_keep_tokens,
                        summarize_at=settings.history_summarize_at,
                        limit_tokens=settings.history_limit_tokens)


TTS_LABEL = "음성 합성 (TTS)"
QWEN_INSTALL_HINT = ("로컬 TTS: pip install -r requirements-tts.txt 후 pip install --no-deps qwen-tts==0.1.1 "
                     "(README 참고) — 또는 TTS_ENGINE=remote / off")


def tts_row(settings: Settings) -> Row:
    if settings.tts_engine == "off":
        return Row("tts", TTS_LABEL, State.OFF, "TTS_ENGINE=off: 답변은 글로만 표시됩니다")
    if settings.tts_engine == "qwen" and importlib.util.find_spec("qwen_tts") is None:
        return Row("tts", TTS_LABEL, State.NOT_CONFIGURED,
                   "로컬 Qwen3-TTS 패키지가 설치되지 않았습니다", QWEN_INSTALL_HINT)
    if settings.tts_engine == "qwen":
        return Row("tts", TTS_LABEL, State.STARTING, f"로컬 Qwen3-TTS 준비 중 ({settings.qwen_tts_model})")
    return Row("tts", TTS_LABEL, State.STARTING, f"원격 TTS 서버 확인 중 ({settings.tts_remote_url})")


def build_tts(settings: Settings) -> SpeechComponent:
    """The engine TTS_ENGINE names (qwen needs the qwen-tts package: see tts_row)."""
    if settings.tts_engine == "qwen":
        from ..tts.qwen_engine import QwenEngine
        from ..tts.qwen_stream import StreamConfig

        stream = StreamConfig(chunk_frames=settings.tts_stream_chunk_frames,
                              first_chunk_frames=settings.tts_stream_first_frames,
                              left_context_frames=settings.tts_stream_left_context_frames)
        return QwenEngine(settings.qwen_tts_model, device=settings.tts_device,
                          hf_home=settings.hf_home, voice_wav=settings.voice_sample,
                          voice_text=settings.voice_sample_text, language=settings.tts_language,
                          seed=settings.tts_seed, streaming=settings.tts_streaming, stream=stream,
                          static_cache=settings.tts_static_cache,
                          compile_mode=settings.tts_compile)
    from ..tts.remote_engine import CloneReference, RemoteEngine

    assert settings.tts_remote_url is not None
    clone = None
    if settings.tts_remote_send_reference:
        try:
            clone = CloneReference.from_wav(
                settings.voice_sample, settings.voice_sample_text.read_text(encoding="utf-8").strip())
        except (OSError, ValueError) as exc:
            log.error("TTS_REMOTE_SEND_REFERENCE: cannot read the voice sample (%s); "
                      "requests go without it until one is saved at /voice", exc)
    key = settings.tts_remote_api_key
    return RemoteEngine(settings.tts_remote_url, model=settings.tts_remote_model,
                        voice=settings.tts_remote_voice, language=settings.tts_language,
                        api_key=key.get_secret_value() if key else None,
                        first_byte_timeout_s=settings.tts_remote_timeout_s, clone=clone,
                        clone_voice=settings.tts_remote_send_reference)


AUDIO_LABEL = "오디오 출력"


def audio_row(settings: Settings) -> Row:
    if settings.audio_output_device == "none" or settings.tts_engine == "off":
        return Row("audio", AUDIO_LABEL, State.OFF, "소리를 내보내지 않습니다")
    return Row("audio", AUDIO_LABEL, State.STARTING, f"{settings.audio_output_device} 여는 중")


def build_audio(settings: Settings) -> AudioOutput:
    monitor = settings.audio_monitor_device
    return AudioOutput(settings.audio_output_device,
                       monitor=None if monitor in (None, "", "none") else monitor,
                       block_ms=settings.audio_block_ms)


def vts_row(settings: Settings) -> Row:
    if not settings.vts_enabled:
        return Row("vts", "VTube Studio", State.OFF, "VTS_ENABLED=false")
    return Row("vts", "VTube Studio", State.STARTING, f"{settings.vts_url} 연결 준비 중",
               "VTS_ENABLED=false로 끌 수 있습니다")


def build_animator(settings: Settings, feed: ParamsFeed | None = None) -> VtsAnimator:
    """The animator: component "vts" with VTube Studio on; its motion also runs for the built-in
    avatar (components "avatar"); its frames go to `feed` (/ws/params) either way."""
    return VtsAnimator(url=settings.vts_url, token_path=settings.vts_token_path,
                       mapping_path=settings.pose_mapping_path, fps=settings.vts_fps,
                       timeout_s=settings.vts_request_timeout_s,
                       reconnect_max_s=settings.vts_reconnect_max_s, feed=feed,
                       vts_enabled=settings.vts_enabled)


def build_stages(settings: Settings, board: StatusBoard,
                 params_feed: ParamsFeed | None = None) -> tuple[Stages, list[ClosableComponent]]:
    """The stages for the turn runner, plus the components the supervisor must run for them
    (each has `name`, `run(status)` and `aclose()`). `params_feed`: where animator frames go
    besides VTube Studio (/ws/params)."""
    rows = (llm_row(settings), tts_row(settings), audio_row(settings), vts_row(settings))
    for row in rows:
        board.register(row.name, row.label, row.state, row.detail, row.hint)
    llm_info, tts_info, audio_info, vts_info = rows
    components: list[ClosableComponent] = []
    llm: LanguageModel = UnavailableLLM(llm_info.detail)
    if settings.groq_api_key is not None:
        llm_component = build_llm(settings)
        llm = llm_component.responder
        components.append(llm_component)
    tts: SpeechEngine = UnavailableSpeech(tts_info.detail)
    if tts_info.state is State.STARTING:
        tts = build_tts(settings)
        components.append(tts)
    audio: AudioOutputPort = UnavailableAudio(audio_info.detail)
    if audio_info.state is State.STARTING:
        audio = build_audio(settings)
        components.append(audio)
    # Built even with VTube Studio off: the built-in avatar may be switched on at any time.
    animator = build_animator(settings, params_feed)
    if vts_info.state is State.STARTING:
        components.append(animator)
    if isinstance(audio, AudioOutput):
        audio.add_tap(animator.audio_tap)  # lip-sync from the blocks as they are heard
    return Stages(llm=llm, tts=tts, audio=audio, animator=animator), components


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


LISTENER_LABEL = "음성 입력 (마이크)"
LISTENER_INSTALL_HINT = ("pip install -r requirements-voice.txt 후 pip install --no-deps silero-vad==6.2.3 "
                      "pipecat-ai==1.14.0 (README 참고)")


def listener_row(settings: Settings) -> Row:
    if not settings.voice_input_on:
        return Row("voice", LISTENER_LABEL, State.OFF, "VOICE_INPUT=off: 채팅으로만 대화합니다",
                   "VOICE_INPUT에 마이크 이름을 적으면 말로도 대화합니다")
    if settings.stt_engine == "off":
        return Row("voice", LISTENER_LABEL, State.NOT_CONFIGURED, "음성 인식(STT) 엔진이 없습니다",
                   "GROQ_API_KEY를 넣거나 STT_ENGINE=whisper (로컬)로 설정하세요")
    missing = [name for name in ("silero_vad", "onnxruntime")
               if importlib.util.find_spec(name) is None]
    if settings.stt_engine == "whisper" and importlib.util.find_spec("faster_whisper") is None:
        missing.append("faster_whisper")
    if missing:
        return Row("voice", LISTENER_LABEL, State.NOT_CONFIGURED,
                   f"음성 입력 패키지가 없습니다: {', '.join(missing)}", LISTENER_INSTALL_HINT)
    # smart without the model still listens (the end of a turn by silence); the listener's
    # running row says why once it has tried to load it.
    turn = ("말 끝: 모델" if settings.voice_turn_detection == "smart"
            else f"말 끝: 침묵 {settings.voice_end_silence_ms} ms")
    return Row("voice", LISTENER_LABEL, State.STARTING,
               f"{settings.voice_input} 준비 중 (STT: {settings.stt_engine}, {turn})")


def build_listener(settings: Settings, *, submit: Callable[[ChatMessage], object],
                ai_busy: Callable[[], bool], interrupt: Callable[[], bool],
                audio: AudioOutputPort) -> VoiceListener:
    """The voice-input component; barge-in acts on the director's turn and the audio output."""
    from ..listen.barge_in import AudibleWindow, BargeIn
    from ..listen.listener import ListenerConfig, VoiceListener
    from ..listen.transcribers import build_stt
    from ..listen.utterances import VadConfig
    from ..listen.vad import SileroVad

    output = audio if isinstance(audio, AudioOutput) else None
    barge_in = BargeIn(settings.voice_barge_in, ai_busy=ai_busy, interrupt=interrupt,
                       set_gain=output.set_gain if output else None,
                       duck_gain=settings.voice_duck_gain)
    audible = None
    if output is not None and barge_in.gates_echo:
        audible = AudibleWindow(settings.voice_echo_tail_ms / 1000)
        output.add_tap(audible.note_block)
    vad = VadConfig(threshold=settings.voice_vad_threshold,
                    min_speech_ms=settings.voice_min_speech_ms,
                    end_silence_ms=settings.voice_end_silence_ms,
                    pad_ms=min(200, settings.voice_end_silence_ms),
                    max_utterance_s=settings.voice_max_utterance_s,
                    end_lag_ms=SileroVad.END_LAG_MS)
    config = ListenerConfig(vad=vad, barge_in_min_ms=settings.voice_barge_in_min_ms,
                            user_name=settings.voice_user_name,
                            turn_detection=settings.voice_turn_detection)
    return VoiceListener(settings.voice_input.strip(), build_stt(settings), barge_in, submit,
                         config=config, audible=audible)


def build_idle_talk(settings: Settings, memory: ViewerMemory | None,
                    vision: Vision | None = None) -> IdleTalk:
    """Idle talk: off when IDLE_TALK_AFTER_S=0; greets regulars when viewer memory is on;
    comments on a new scene when vision is on."""
    config = IdleTalkConfig(after_s=settings.idle_talk_after_s,
                            min_gap_s=settings.idle_talk_min_gap_s,
                            topics_path=settings.topics_path)
    return IdleTalk(config, regulars=memory.regulars if memory is not None else None,
                    scene=vision.new_scene if vision is not None else lambda: None)


MEMORY_LABEL = "시청자 기억"
DISTILL_NEED_TOKENS = 1200  # what one memory-facts request may cost, for the budget's reserve


def memory_row(settings: Settings) -> Row:
    if not settings.memory_enabled:
        return Row("memory", MEMORY_LABEL, State.OFF, "MEMORY_ENABLED=false: 시청자를 기억하지 않습니다",
                   "MEMORY_ENABLED=true로 켜면 시청자별 방문·한 말·사실을 기억합니다")
    return Row("memory", MEMORY_LABEL, State.STARTING, f"{settings.memory_path} 여는 중")


def build_memory(settings: Settings, board: StatusBoard,
                 llm: LanguageModel) -> ViewerMemory | None:
    """Viewer memory (None when MEMORY_ENABLED=false), recalled into the responder's requests.
    With an LLM it also distills facts, on a client of its own that never retries (a 429 backs
    the distiller off) and that waits while the answering client is rate-limited."""
    row = memory_row(settings)
    board.register(row.name, row.label, row.state, row.detail, row.hint)
    if not settings.memory_enabled:
        return None
    from ..ai.tokens import load_counter
    from ..memory.component import ViewerMemory
    from ..memory.distill import DistillPacer

    responder = llm if isinstance(llm, GroqResponder) else None
    distill = pacer = closer = None
    if responder is not None and settings.groq_api_key is not None:
        client = GroqClient(api_key=settings.groq_api_key.get_secret_value(),
                            base_url=settings.groq_base_url, model=settings.groq_model,
                            reasoning_effort=settings.groq_reasoning_effort,
                            timeout_s=settings.groq_timeout_s, max_retries=0,
                            on_headers=lambda model, headers: responder.note_background(
                                model, headers))

        async def distill(messages: list[dict[str, str]]) -> str:
            completion = await client.complete_json(messages, max_tokens=300, temperature=0.2)
            responder.note_background(client.model, usage=completion.usage)
            return completion.content

        def blocked() -> bool:
            # the answering client is rate-limited, or what is left today is the answers'
            until = responder.client.rate_limits.limited_until
            return (until is not None and until > time.time()) or not responder.background_ok(
                DISTILL_NEED_TOKENS, client.model)

        pacer = DistillPacer(settings.memory_distill_interval_s, blocked=blocked)
        closer = client.aclose
    memory = ViewerMemory(settings.memory_path, prompt_tokens=settings.memory_prompt_tokens,
                          retention_days=settings.memory_retention_days,
                          facts_per_viewer=settings.memory_facts_per_viewer,
                          count_tokens=lambda text: load_counter().count(text),
                          distill=distill, distill_pacer=pacer, on_close=closer)
    if responder is not None:
        responder.viewers = memory
    return memory
