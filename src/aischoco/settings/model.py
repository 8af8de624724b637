"""One typed settings object, read from the environment and a `.env` file.

Environment variables win over `.env`. Every key is documented in `.env.example`; invalid values
stop start-up with a message (Korean first) naming the file, and for every wrong key its value and
what is allowed (`SettingsError`). Keys and ids pasted with spaces or quotes around them, and a
CHZZK channel given as its address, are read as meant; `Settings.understood` says what was changed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (Field, PrivateAttr, SecretStr, ValidationError, field_validator,
                      model_validator)
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .pasted import NotAChannel, chzzk_channel_id, trim_pasted

ChatSource = Literal["chzzk", "chzzk-web", "local"]
# CHAT_SOURCE is a comma list of these (one CHZZK at most): every listed platform's chat, one room.
CHAT_PLATFORMS = ("chzzk", "chzzk-web", "youtube", "soop", "local")
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
                         "TTS_SERVER_API_KEY", "STT_API_KEY", "YOUTUBE_API_KEY"})


# Pasted keys and ids: spaces and quotes around them are dropped (an empty result is "not set").
TRIMMED_KEYS = ("groq_api_key", "chzzk_client_id", "chzzk_client_secret", "chzzk_channel_id",
                "tts_remote_api_key", "tts_server_api_key", "stt_api_key", "vision_api_key",
                "obs_ws_password", "youtube_channel_id", "youtube_video_id", "youtube_api_key",
                "soop_channel_id")


class SettingsError(Exception):
    """Settings have invalid values; str() is what the streamer is shown (Korean first: one line
    for one wrong value, a line per value when there are more)."""


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
    # A comma list of CHAT_PLATFORMS, normalised ("chzzk,youtube"); resolved below when unset:
    # chzzk when CHZZK_CLIENT_ID is set, else local. `chat_sources` gives it as a tuple.
    chat_source: str | None = None
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
    # YouTube live chat (CHAT_SOURCE=youtube): a channel's current live, or one video. An address
    # (…/@handle, …/channel/UC…, watch?v=…) is read by chat/addresses.py when the source starts.
    youtube_channel_id: str | None = None
    youtube_video_id: str | None = None
    youtube_api_url: str = "https://www.googleapis.com/youtube/v3"  # Data API (YOUTUBE_API_KEY)
    youtube_web_url: str = "https://www.youtube.com"  # the web client's live-chat feed (no key)
    youtube_api_key: SecretStr | None = None  # set: read chat through the Data API (quota)
    # SOOP (AfreecaTV) live chat, unofficial (CHAT_SOURCE=soop): hosts in chat/soop_packet.py too.
    soop_channel_id: str | None = None
    soop_live_api_url: str = "https://live.sooplive.com/afreeca/player_live_api.php"
    soop_chat_url: str = "wss://{domain}:{port}/Websocket/{bid}"

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
    # Other platforms' gifts in won (DONATION_TIERS, memory): `krw_rates` gives it as a dict.
    donation_krw_rates: str = "soop_balloon=100,soop_adballoon=10,USD=1400,JPY=9.5,EUR=1500"

    # --- LLM and memory ----------------------------------------------------------------------
    groq_api_key: SecretStr | None = None
    groq_model: str = "openai/gpt-oss-120b"
    groq_base_url: str = "https://api.groq.com/openai/v1"
    groq_stream: bool = True
    groq_reasoning_effort: ReasoningEffort = "low"
    groq_timeout_s: float = Field(5.0, gt=0, le=120)
    groq_max_answer_chars: int = Field(300, ge=20, le=5000)
    # When a model's free-plan day (or minute) is spent, the next answers (ai/budget.py);
    # "none" = no fallback, wait for the limit.
    groq_fallback_models: str = ("moonshotai/kimi-k2-instruct,qwen/qwen3-32b,"
                                 "meta-llama/llama-4-scout-17b-16e-instruct,llama-3.1-8b-instant")
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
    # smart: the smart-turn model decides after ~200 ms of silence (cap 2 s); silence: the above
    voice_turn_detection: Literal["smart", "silence"] = "smart"
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

    # KEY -> what was read differently from how it was typed (a channel address → its id …)
    _understood: dict[str, str] = PrivateAttr(default_factory=dict)

    @field_validator(*TRIMMED_KEYS, mode="before")
    @classmethod
    def _trim_pasted(cls, value: object) -> object:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, str):
            return trim_pasted(value) or None
        return value

    @field_validator("chzzk_channel_id")
    @classmethod
    def _channel_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return chzzk_channel_id(value)
        except NotAChannel as exc:
            raise ValueError(f"{exc} (not a CHZZK channel address)") from None

    @model_validator(mode="wrap")
    @classmethod
    def _note_pasted(cls, data: object, handler: Any) -> Settings:
        settings = handler(data)
        raw_values = data if isinstance(data, dict) else {}
        for name in TRIMMED_KEYS:
            raw, value = raw_values.get(name), getattr(settings, name)
            if not isinstance(raw, str) or value is None:
                continue
            plain = value.get_secret_value() if isinstance(value, SecretStr) else value
            if raw == plain:
                continue
            if name == "chzzk_channel_id" and trim_pasted(raw) != plain:
                note = f"채널 주소에서 채널 ID {plain}을(를) 읽었습니다"
            elif isinstance(value, SecretStr):
                note = "앞뒤의 공백·따옴표를 지웠습니다"
            else:
                note = f"앞뒤의 공백·따옴표를 지웠습니다: {plain}"
            settings._understood[name.upper()] = note
        return settings

    @field_validator("tools_viewer_allowed", mode="before")
    @classmethod
    def _tool_names(cls, value: object) -> object:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @field_validator("chat_source", mode="before")
    @classmethod
    def _chat_sources(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        names = [name.strip().lower() for name in value.split(",") if name.strip()]
        if not names:
            return None
        unknown = [name for name in names if name not in CHAT_PLATFORMS]
        if unknown:
            raise ValueError(f"{', '.join(repr(p) for p in CHAT_PLATFORMS)} 중 하나여야 합니다 — "
                             f"모르는 플랫폼: {', '.join(repr(n) for n in unknown)} "
                             "(여러 플랫폼은 쉼표로, 예: chzzk,youtube,soop)")
        if "chzzk" in names and "chzzk-web" in names:
            raise ValueError("chzzk와 chzzk-web은 함께 쓸 수 없습니다 (치지직은 하나만 — "
                             "chzzk and chzzk-web read the same chat)")
        return ",".join(dict.fromkeys(names))

    @field_validator("donation_krw_rates", mode="before")
    @classmethod
    def _krw_rates(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        rates: dict[str, float] = {}
        for part in (p.strip() for p in value.split(",")):
            if not part:
                continue
            unit, sep, number = (x.strip() for x in part.partition("="))
            unit = unit.lower() if unit.lower().startswith("soop_") else unit.upper()
            try:
                rate = float(number.replace("_", ""))
            except ValueError:
                rate = -1.0
            if not sep or not unit.replace("_", "").isalnum() or not 0 < rate < 10**7:
                raise ValueError(f"'{part[:40]}': 단위=원 을 쉼표로 나눠 적어야 합니다 (예: "
                                 "soop_balloon=100,USD=1400,JPY=9.5) — unit=won pairs")
            rates[unit] = rate
        return ",".join(f"{unit}={rate:g}" for unit, rate in rates.items())

    @field_validator("donation_tiers", mode="before")
    @classmethod
    def _tiers(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip().replace("_", "") for p in value.split(",") if p.strip()]
            if not all(p.isdigit() for p in parts):
                raise ValueError("쉼표로 나눈 치즈 금액이어야 합니다 (예: 1000,10000,50000) — "
                                 "cheese amounts separated by commas")
            return [int(p) for p in parts]
        return value

    @field_validator("donation_tiers")
    @classmethod
    def _tiers_ascending(cls, value: list[int]) -> list[int]:
        if len(value) > 10 or any(v <= 0 for v in value) or value != sorted(set(value)):
            raise ValueError("작은 것부터 커지는 양수 금액 10개까지 (예: 1000,10000,50000) — "
                             "at most 10 positive amounts in ascending order")
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
                     "vision_base_url", "youtube_api_url", "youtube_web_url", "soop_live_api_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("http:// 또는 https://로 시작해야 합니다 (must start with http:// "
                             "or https://)")
        return value.rstrip("/") if value else value

    @field_validator("vts_url", "chzzk_web_chat_url", "obs_ws_url", "soop_chat_url")
    @classmethod
    def _ws_url(cls, value: str) -> str:
        if not value.startswith(("ws://", "wss://")):
            raise ValueError("ws:// 또는 wss://로 시작해야 합니다 (must start with ws:// or wss://)")
        return value

    @field_validator("audio_output_device", "audio_monitor_device", "voice_input")
    @classmethod
    def _device_spec(cls, value: str | None) -> str | None:
        if value is not None and value.startswith("file:") and not value[5:].lower().endswith(".wav"):
            raise ValueError("file: 장치는 .wav 파일이어야 합니다 (예: file:out.wav) — file: devices "
                             "must name a .wav path")
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
                "KEEP < SUMMARIZE_AT <= LIMIT 이어야 합니다 (allowed is KEEP < SUMMARIZE_AT <= LIMIT)"
            )
        if self.voice_max_utterance_s * 1000 <= self.voice_min_speech_ms + self.voice_end_silence_ms:
            raise ValueError("VOICE_MAX_UTTERANCE_S는 VOICE_MIN_SPEECH_MS + VOICE_END_SILENCE_MS보다 "
                             "길어야 합니다 (VOICE_MAX_UTTERANCE_S must be longer)")
        if self.tts_engine == "remote" and not self.tts_remote_url:
            raise ValueError("TTS_ENGINE=remote에는 TTS_REMOTE_URL이 필요합니다 "
                             "(TTS_ENGINE=remote needs TTS_REMOTE_URL)")
        return self

    # --- helpers -----------------------------------------------------------------------------
    def secret_values(self) -> list[str]:
        """Plain secret values, for the log redaction filter."""
        return [s.get_secret_value() for s in (self.groq_api_key, self.chzzk_client_secret,
                                               self.tts_remote_api_key, self.tts_server_api_key,
                                               self.stt_api_key, self.youtube_api_key)
                if s]

    @property
    def chat_sources(self) -> tuple[str, ...]:
        """CHAT_SOURCE as a tuple of platforms, in the order given (`chzzk,youtube` → 2)."""
        return tuple((self.chat_source or "local").split(","))

    @property
    def krw_rates(self) -> dict[str, float]:
        """DONATION_KRW_RATES as {unit: won}: `soop_balloon`, `soop_adballoon`, currency codes."""
        pairs = (part.partition("=") for part in self.donation_krw_rates.split(",") if part)
        return {unit: float(rate) for unit, _, rate in pairs}

    @property
    def understood(self) -> dict[str, str]:
        """KEY -> what was read differently from how it was typed (Korean, never a secret)."""
        return dict(self._understood)

    @property
    def voice_input_on(self) -> bool:
        return self.voice_input.strip().lower() not in ("off", "none", "")

    @property
    def overlay_base_url(self) -> str:
        host = self.overlay_host if self.overlay_host not in ("0.0.0.0", "::") else "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.overlay_port}"


def is_secret(key: str) -> bool:
    """Never echo this key's value (errors, logs, doctor)."""
    field = Settings.model_fields.get(key.lower())
    return key.upper() in SECRET_KEYS or (field is not None and "SecretStr" in str(field.annotation))


def explain(err: ErrorDetails) -> str:
    """What a pydantic error means, in Korean, with what is allowed (the settings page shows it
    beside the field; start-up adds the English original)."""
    kind, ctx = err.get("type", ""), err.get("ctx") or {}
    loc = err.get("loc") or ()
    if kind == "value_error":  # our own validators: already Korean first
        return str(err.get("msg", "")).removeprefix("Value error, ")
    if kind in ("int_parsing", "int_type", "int_from_float", "int_parsing_size"):
        return "정수(숫자)여야 합니다"
    if kind in ("float_parsing", "float_type", "finite_number"):
        return "숫자여야 합니다 (예: 1.5)"
    if kind in ("bool_parsing", "bool_type"):
        return "true 또는 false여야 합니다"
    bounds = {"greater_than_equal": ("ge", "이상이어야"), "greater_than": ("gt", "보다 커야"),
              "less_than_equal": ("le", "이하여야"), "less_than": ("lt", "보다 작아야")}
    if kind in bounds:
        name, words = bounds[kind]
        return f"{ctx.get(name)}{'' if words.startswith('보다') else ' '}{words} 합니다"
    if kind in ("literal_error", "enum"):
        expected = str(ctx.get("expected", "")).replace(" or ", ", ")
        return f"{expected} 중 하나여야 합니다"
    if kind == "string_pattern_mismatch":
        if loc and str(loc[0]) == "vision":
            return "off, obs, screen, screen:모니터번호 중 하나여야 합니다"
        return f"형식이 맞지 않습니다 ({ctx.get('pattern')})"
    if kind == "string_too_short":
        return f"{ctx.get('min_length')}자 이상이어야 합니다"
    if kind == "string_too_long":
        return f"{ctx.get('max_length')}자 이하여야 합니다"
    return f"값이 잘못되었습니다 ({err.get('msg', 'invalid value')})"


def _set_in_environment(key: str) -> bool:
    return any(name.upper() == key for name in os.environ)


def _format_error(err: ValidationError, env_file: str | os.PathLike[str] | None = None) -> str:
    """Korean first: every wrong value with its key, value (secrets hidden) and what is allowed,
    where it came from (the env file, named, or an environment variable), what to do, and the
    English original in brackets. One wrong value is one line."""
    found: list[tuple[str, str, str]] = []  # (Korean, English, "env" | "file" | "")
    for item in err.errors():
        loc = item.get("loc") or ()
        key = str(loc[0]).upper() if loc else ""
        english = str(item.get("msg", "invalid value")).removeprefix("Value error, ")
        if not key:  # a cross-field rule from the model validator: already Korean first
            found.append((f"설정 조합: {explain(item)}", "", ""))
            continue
        shown = "<hidden>" if is_secret(key) else repr(item.get("input"))
        own = item.get("type") == "value_error"  # our own message: Korean and English already
        found.append((f"{key}={shown} — {explain(item)}",
                      "" if own else f"Invalid setting {key}={shown}: {english}",
                      "env" if _set_in_environment(key) else "file"))
    sources = {source for _, _, source in found}
    where = ([f"{env_file} 파일"] if "file" in sources and env_file is not None else []) + \
        (["환경 변수"] if "env" in sources else [])
    place = f" ({', '.join(where)})" if where else ""

    def line(korean: str, english: str, source: str) -> str:
        marker = " [환경 변수]" if len(where) > 1 and source == "env" else ""
        return f"{korean}{marker}{f' ({english})' if english else ''}"

    if len(found) == 1:
        korean, english, _ = found[0]
        return (f"설정이 잘못되었습니다{place}: {korean} → 고친 뒤 다시 실행하세요"
                f"{f' ({english})' if english else ''}")
    return "\n".join([f"설정 {len(found)}개가 잘못되었습니다{place} — 모두 고친 뒤 다시 실행하세요:",
                      *(f"  · {line(*item)}" for item in found)])


def load_settings(env_file: str | os.PathLike[str] | None = ".env") -> Settings:
    """Read settings; raise SettingsError naming every invalid value (and the file)."""
    if env_file is not None and not Path(env_file).exists():
        env_file = None  # a missing .env is normal on a fresh machine
    try:
        return Settings(_env_file=env_file)  # type: ignore[call-arg]
    except ValidationError as err:
        raise SettingsError(_format_error(err, env_file)) from None
