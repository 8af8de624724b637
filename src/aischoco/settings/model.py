"""One typed settings object, read from the environment and a `.env` file.

Environment variables win over `.env`. Every key is documented in `.env.example`; an invalid value
stops start-up with one line naming the key, the value and what is allowed (`SettingsError`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ChatSource = Literal["chzzk", "chzzk-web", "local"]
TtsEngineName = Literal["qwen", "remote", "off"]
TtsDevice = Literal["auto", "cuda", "cpu", "mps"]
TtsCompile = Literal["off", "compile", "cudagraphs"]
SttEngineName = Literal["groq", "whisper", "off"]
SttDevice = Literal["auto", "cuda", "cpu"]  # CTranslate2 has no Apple GPU backend
BargeIn = Literal["interrupt", "duck", "ignore"]
ReasoningEffort = Literal["low", "medium", "high"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

# Keys whose values must never be echoed (errors, logs, doctor).
SECRET_KEYS = frozenset({"CHZZK_CLIENT_SECRET", "GROQ_API_KEY", "TTS_REMOTE_API_KEY",
                         "TTS_SERVER_API_KEY", "STT_API_KEY"})


class SettingsError(Exception):
    """A setting has an invalid value; str() is the one line shown to the streamer."""


class Settings(BaseSettings):
    """All daemon settings. Field names are the lower-case environment keys."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        env_ignore_empty=True,  # `GROQ_API_KEY=` in .env means "not set"
        frozen=True,
        validate_default=True,
    )

    # --- chat -------------------------------------------------------------------------------
    chat_source: ChatSource | None = None  # resolved below: chzzk when CHZZK_CLIENT_ID is set
    chzzk_client_id: str | None = None
    chzzk_client_secret: SecretStr | None = None
    chzzk_channel_id: str | None = None
    chzzk_redirect_uri: str = "http://localhost:8000/auth/chzzk/callback"
    chzzk_openapi_url: str = "https://openapi.chzzk.naver.com"
    chzzk_token_path: Path = Path("config/chzzk_token.json")
    # The unofficial read-only web chat (CHAT_SOURCE=chzzk-web); overridable for tests.
    chzzk_web_api_url: str = "https://api.chzzk.naver.com"
    chzzk_web_game_api_url: str = "https://comm-api.game.naver.com"
    chzzk_web_chat_url: str = "wss://kr-ss{n}.chat.naver.com/chat"

    # --- chat filters and reply queue ---------------------------------------------------------
    chat_min_length: int = Field(2, ge=0, le=1000)
    chat_max_length: int = Field(200, ge=10, le=10_000)
    chat_duplicate_window_s: float = Field(30.0, ge=0, le=3600)
    chat_max_char_run: int = Field(20, ge=0, le=10_000)
    chat_user_max_messages: int = Field(3, ge=0, le=1000)
    chat_user_window_s: float = Field(10.0, ge=0, le=3600)
    banned_words_path: Path = Path("config/banned_words.txt")
    hide_streamer_chat: bool = False
    reply_queue_size: int = Field(50, ge=1, le=10_000)
    reply_batch_size: int = Field(3, ge=1, le=50)
    reply_max_age_s: float = Field(60.0, gt=0, le=3600)

    # --- vision (OBS or screen frames → scene notes) -------------------------------------------
    vision: str = Field("off", pattern=r"^(off|obs|screen(:[1-9][0-9]?)?)$")
    obs_ws_url: str = "ws://127.0.0.1:4455"
    obs_ws_password: SecretStr | None = None
    obs_source: str | None = None  # unset: the current program scene (what the stream shows)
    vision_model: str = "meta-llama/llama-4-scout-17b-16e-instruct"
    vision_base_url: str | None = None  # unset: GROQ_BASE_URL
    vision_api_key: SecretStr | None = None  # unset: GROQ_API_KEY
    vision_interval_s: float = Field(10.0, ge=1, le=3600)

    # --- tools (LLM tool calls, MCP servers) --------------------------------------------------
    tools: bool = True
    mcp_config_path: Path = Path("config/mcp.json")
    tools_viewer_allowed: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["korea_time", "stream_info", "viewer_memory", "roll_dice",
                                 "pick_random"])
    tool_timeout_s: float = Field(5.0, gt=0, le=120)
    tool_max_calls: int = Field(3, ge=1, le=10)  # tool rounds per turn

    # --- a living stream -----------------------------------------------------------------------
    idle_talk_after_s: float = Field(120.0, ge=0, le=86_400)  # quiet this long → speak first; 0 off
    idle_talk_min_gap_s: float = Field(60.0, ge=0, le=86_400)  # between two idle lines
    topics_path: Path = Path("config/topics.txt")
    donation_tiers: Annotated[list[int], NoDecode] = Field(default_factory=lambda: [1000, 10000, 50000])

    # --- LLM and memory ----------------------------------------------------------------------
    groq_api_key: SecretStr | None = None
    groq_model: str = "openai/gpt-oss-120b"
    groq_base_url: str = "https://api.groq.com/openai/v1"
    groq_stream: bool = True
    groq_reasoning_effort: ReasoningEffort = "low"
    groq_timeout_s: float = Field(5.0, gt=0, le=120)
    groq_max_answer_chars: int = Field(300, ge=20, le=5000)
    ai_banned_words_path: Path = Path("config/banned_words.txt")
    character_path: Path = Path("config/character.txt")
    history_dir: Path = Path("history")
    history_keep_tokens: int = Field(5000, ge=100)
    history_summarize_at: int = Field(7000, ge=100)
    history_limit_tokens: int = Field(8000, ge=100)

    # --- long-term viewer memory ---------------------------------------------------------------
    memory_enabled: bool = True
    memory_path: Path = Path("history/memory.sqlite3")
    memory_prompt_tokens: int = Field(400, ge=0, le=4000)  # recalled cards per reply request
    memory_forget_command: str = "!잊어줘"  # empty: viewers cannot erase themselves by chat
    memory_retention_days: int = Field(365, ge=0)  # 0 keeps forever
    memory_facts_per_viewer: int = Field(20, ge=1, le=200)
    memory_distill_interval_s: float = Field(30.0, ge=1, le=3600)  # one fact extraction at most this often

    # --- voice -------------------------------------------------------------------------------
    tts_engine: TtsEngineName = "qwen"
    tts_remote_url: str | None = None
    tts_remote_model: str = "qwen3-tts"
    tts_remote_voice: str = "default"
    tts_remote_api_key: SecretStr | None = None
    tts_remote_send_reference: bool = False  # vLLM-Omni Base: VOICE_SAMPLE with every request
    tts_remote_timeout_s: float = Field(15.0, gt=0, le=120)  # to the first byte of a sentence
    tts_server_api_key: SecretStr | None = None  # `tts-server`: clients must send this Bearer key
    qwen_tts_model: str = "Qwen/Qwen3-TTS-12Hz-1.7B-Base"
    tts_device: TtsDevice = "auto"
    hf_home: Path = Path("cache/huggingface")
    voice_sample: Path = Path("assets/voice_samples/ref.wav")
    voice_sample_text: Path = Path("assets/voice_samples/ref_text.txt")
    tts_language: str = "Korean"
    audio_output_device: str = "default"
    audio_monitor_device: str | None = None  # a second device so the streamer hears it too
    audio_block_ms: int = Field(20, ge=5, le=100)
    tts_seed: int | None = None  # same seed → same voice rendering of a sentence
    # local Qwen3-TTS streaming (issue #6): audio every few codec frames (1 frame = 80 ms)
    tts_streaming: bool = True
    tts_stream_first_frames: int = Field(2, ge=1, le=50)
    tts_stream_chunk_frames: int = Field(4, ge=1, le=50)
    tts_stream_left_context_frames: int = Field(25, ge=0, le=100)
    tts_static_cache: bool = False  # GPU only; CPU/MPS ignore both switches
    tts_compile: TtsCompile = "off"
    segment_min_chars: int = Field(10, ge=0, le=500)
    segment_max_chars: int = Field(150, ge=0, le=5000)

    # --- VTube Studio ------------------------------------------------------------------------
    # The avatar the daemon draws itself on /avatar (no VTube Studio or Live2D model needed).
    avatar: Literal["off", "png", "vrm", "live2d"] = "off"
    avatar_path: Path = Path("assets/avatar/")  # the image-set folder, or the .vrm file
    vts_enabled: bool = True
    vts_url: str = "ws://localhost:8001"
    vts_token_path: Path = Path("config/vts_token.txt")
    pose_mapping_path: Path = Path("config/pose_mapping.json")
    vts_fps: int = Field(30, ge=5, le=60)  # parameter frames per second (VTS and /ws/params)
    vts_request_timeout_s: float = Field(3.0, gt=0, le=60)
    vts_reconnect_max_s: float = Field(30.0, ge=0.5, le=600)  # backoff cap while VTS is closed

    # --- overlay / control panel -------------------------------------------------------------
    overlay_host: str = "127.0.0.1"
    overlay_port: int = Field(8000, ge=1, le=65535)
    panel_password: SecretStr | None = None  # required when OVERLAY_HOST is not loopback
    overlay_max_messages: int = Field(100, ge=1, le=5000)
    overlay_fade_s: float = Field(600.0, ge=1, le=86_400)

    # --- streamer voice input (issue #11) -----------------------------------------------------
    voice_input: str = "off"  # off | microphone name part or index | file:PATH.wav
    voice_user_name: str = Field("방장", min_length=1, max_length=30)  # shown for voice lines
    voice_vad_threshold: float = Field(0.5, ge=0.05, le=0.99)  # Silero speech probability
    voice_min_speech_ms: int = Field(250, ge=0, le=5000)  # shorter sounds are no utterance
    voice_end_silence_ms: int = Field(600, ge=200, le=5000)  # silence that ends the turn
    voice_max_utterance_s: float = Field(30.0, ge=3, le=120)
    voice_barge_in: BargeIn = "interrupt"
    voice_barge_in_min_ms: int = Field(300, ge=0, le=5000)  # speech before the AI is cut
    voice_duck_gain: float = Field(0.3, ge=0.0, le=1.0)  # AI volume under the streamer (duck)
    voice_echo_tail_ms: int = Field(300, ge=0, le=3000)  # ignore: mic deaf this long after the AI
    stt_engine: SttEngineName | None = None  # resolved below: groq when a Groq key is set
    stt_model: str | None = None  # groq: whisper-large-v3-turbo; whisper: large-v3-turbo (GPU) / small
    stt_language: str = Field("ko", min_length=2, max_length=8)
    stt_base_url: str | None = None  # OpenAI-compatible transcriptions; default GROQ_BASE_URL
    stt_api_key: SecretStr | None = None  # default GROQ_API_KEY
    stt_timeout_s: float = Field(10.0, gt=0, le=120)
    stt_prompt: str = Field("", max_length=500)  # spelling hints: the AI's name, channel words
    stt_device: SttDevice = "auto"  # local whisper: auto → cuda when present, else cpu
    stt_compute_type: str = "default"  # local whisper: float16 on cuda, int8 on cpu

    # --- daemon ------------------------------------------------------------------------------
    log_level: LogLevel = "INFO"
    shutdown_timeout_s: float = Field(4.0, gt=0, le=30)

    @field_validator("tools_viewer_allowed", mode="before")
    @classmethod
    def _tool_names(cls, value: object) -> object:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @field_validator("donation_tiers", mode="before")
    @classmethod
    def _tiers(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip().replace("_", "") for p in value.split(",") if p.strip()]
            if not all(p.isdigit() for p in parts):
                raise ValueError("cheese amounts separated by commas, e.g. 1000,10000,50000")
            return [int(p) for p in parts]
        return value

    @field_validator("donation_tiers")
    @classmethod
    def _tiers_ascending(cls, value: list[int]) -> list[int]:
        if len(value) > 10 or any(v <= 0 for v in value) or value != sorted(set(value)):
            raise ValueError("at most 10 positive amounts in ascending order, e.g. 1000,10000,50000")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("voice_barge_in", mode="before")
    @classmethod
    def _barge_in_words(cls, value: object) -> object:
        # VOICE_BARGE_IN=false/off reads naturally as "never cut the AI" (ignore), true as interrupt.
        words = {"false": "ignore", "off": "ignore", "no": "ignore", "0": "ignore",
                 "true": "interrupt", "on": "interrupt", "yes": "interrupt", "1": "interrupt"}
        return words.get(value.strip().lower(), value.strip().lower()) if isinstance(value, str) else value

    @field_validator("chzzk_openapi_url", "groq_base_url", "tts_remote_url", "chzzk_redirect_uri",
                     "chzzk_web_api_url", "chzzk_web_game_api_url", "stt_base_url",
                     "vision_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value

    @field_validator("vts_url", "chzzk_web_chat_url", "obs_ws_url")
    @classmethod
    def _ws_url(cls, value: str) -> str:
        if not value.startswith(("ws://", "wss://")):
            raise ValueError("must start with ws:// or wss://")
        return value

    @field_validator("audio_output_device", "audio_monitor_device", "voice_input")
    @classmethod
    def _device_spec(cls, value: str | None) -> str | None:
        if value is not None and value.startswith("file:") and not value[5:].lower().endswith(".wav"):
            raise ValueError("file: devices must name a .wav path, e.g. file:out.wav")
        return value

    @model_validator(mode="after")
    def _derived_defaults(self) -> "Settings":
        # frozen model: fill derived defaults through object.__setattr__ once, at validation time.
        if self.chat_source is None:
            object.__setattr__(self, "chat_source", "chzzk" if self.chzzk_client_id else "local")
        if self.stt_engine is None:
            has_key = self.groq_api_key is not None or self.stt_api_key is not None
            object.__setattr__(self, "stt_engine", "groq" if has_key else "off")
        if not self.history_keep_tokens < self.history_summarize_at <= self.history_limit_tokens:
            raise ValueError(
                f"HISTORY_KEEP_TOKENS={self.history_keep_tokens}, "
                f"HISTORY_SUMMARIZE_AT={self.history_summarize_at}, "
                f"HISTORY_LIMIT_TOKENS={self.history_limit_tokens}: "
                "allowed is KEEP < SUMMARIZE_AT <= LIMIT"
            )
        if self.voice_max_utterance_s * 1000 <= self.voice_min_speech_ms + self.voice_end_silence_ms:
            raise ValueError("VOICE_MAX_UTTERANCE_S must be longer than "
                             "VOICE_MIN_SPEECH_MS + VOICE_END_SILENCE_MS")
        if self.tts_engine == "remote" and not self.tts_remote_url:
            raise ValueError("TTS_ENGINE=remote needs TTS_REMOTE_URL")
        return self

    # --- helpers -----------------------------------------------------------------------------
    def secret_values(self) -> list[str]:
        """Plain secret values, for the log redaction filter."""
        return [s.get_secret_value() for s in (self.groq_api_key, self.chzzk_client_secret,
                                               self.tts_remote_api_key, self.tts_server_api_key,
                                               self.stt_api_key)
                if s]

    @property
    def voice_input_on(self) -> bool:
        return self.voice_input.strip().lower() not in ("off", "none", "")

    @property
    def overlay_base_url(self) -> str:
        host = self.overlay_host if self.overlay_host not in ("0.0.0.0", "::") else "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.overlay_port}"


def _format_error(err: ValidationError) -> str:
    """One line: key, value, what is allowed. Secrets are never echoed."""
    first = err.errors()[0]
    loc = first.get("loc") or ()
    key = str(loc[0]).upper() if loc else ""
    message = first.get("msg", "invalid value").removeprefix("Value error, ")
    if not key:  # a cross-field rule from the model validator
        return f"Invalid settings: {message}"
    shown = "<hidden>" if key in SECRET_KEYS else repr(first.get("input"))
    return f"Invalid setting {key}={shown}: {message}"


def load_settings(env_file: str | os.PathLike[str] | None = ".env") -> Settings:
    """Read settings; raise SettingsError with one clear line on any invalid value."""
    if env_file is not None and not Path(env_file).exists():
        env_file = None  # a missing .env is normal on a fresh machine
    try:
        return Settings(_env_file=env_file)  # type: ignore[call-arg]
    except ValidationError as err:
        raise SettingsError(_format_error(err)) from None
