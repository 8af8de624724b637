"""Every setting as the panel's settings page shows it: grouped as `.env.example` groups them, the
groups a new streamer needs first in the order of the first-run checklist (AI key → voice → audio
→ VTube Studio/avatar → chat), each setting with its Korean name, its own explanation (the comment
lines directly above it in `.env.example`), its default, whether it is a secret, whether it is
rarely touched ("고급", folded on the page), and the control that fits its type in the settings
model (a switch, a list of choices, a number with its range, a text box).

`.env.example` stays the one place the explanations are written; the Korean names and what is
"기본" live here, beside the model they describe."""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import annotated_types
from pydantic import SecretStr

from .model import Settings

EXAMPLE = Path(__file__).resolve().parents[3] / ".env.example"
_SECTION = re.compile(r"^#\s*──\s*(?P<name>[^─]+?)\s*─")
_KEY = re.compile(r"^(?P<key>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")

# The page shows these groups first, in the first-run checklist's order (a group's name up to
# " (" is compared); every other group follows in the order of `.env.example`.
FIRST_GROUPS = ("AI 답변", "목소리", "오디오 출력", "VTube Studio", "아바타", "채팅")

# What a streamer sets on the first day (shown open); every other key is "고급" (folded).
BASIC = frozenset({
    "GROQ_API_KEY", "GROQ_MODEL", "GROQ_BASE_URL", "CHARACTER_PATH",
    "TTS_ENGINE", "TTS_REMOTE_URL",
    "AUDIO_OUTPUT_DEVICE", "AUDIO_MONITOR_DEVICE",
    "VTS_ENABLED", "AVATAR",
    "CHAT_SOURCE", "CHZZK_CLIENT_ID", "CHZZK_CLIENT_SECRET", "CHZZK_CHANNEL_ID",
    "YOUTUBE_CHANNEL_ID", "SOOP_CHANNEL_ID",
    "HIDE_STREAMER_CHAT",
    "IDLE_TALK_AFTER_S", "DONATION_TIERS",
    "OVERLAY_PORT", "PANEL_PASSWORD",
    "VOICE_INPUT", "VOICE_USER_NAME", "VOICE_BARGE_IN",
    "MEMORY_ENABLED", "MEMORY_FORGET_COMMAND",
    "VISION", "TOOLS",
})

# Each key's Korean name: the page's label (the env key is shown small beside it).
LABELS: dict[str, str] = {
    # 채팅
    "CHAT_SOURCE": "채팅 가져올 곳", "CHZZK_CLIENT_ID": "치지직 Client ID",
    "CHZZK_CLIENT_SECRET": "치지직 Client Secret", "CHZZK_CHANNEL_ID": "치지직 채널 ID",
    "CHZZK_REDIRECT_URI": "치지직 로그인 후 돌아올 주소",
    "CHZZK_OPENAPI_URL": "치지직 Open API 주소 (테스트용)", "CHZZK_TOKEN_PATH": "치지직 토큰 파일",
    "CHZZK_WEB_API_URL": "웹 채팅 채널 API 주소 (테스트용)",
    "CHZZK_WEB_GAME_API_URL": "웹 채팅 토큰 API 주소 (테스트용)",
    "CHZZK_WEB_CHAT_URL": "웹 채팅 웹소켓 주소 (테스트용)",
    "YOUTUBE_CHANNEL_ID": "유튜브 채널", "YOUTUBE_VIDEO_ID": "유튜브 방송(영상) ID",
    "YOUTUBE_API_KEY": "유튜브 Data API 키", "YOUTUBE_API_URL": "유튜브 Data API 주소 (테스트용)",
    "YOUTUBE_WEB_URL": "유튜브 웹 주소 (테스트용)", "SOOP_CHANNEL_ID": "SOOP 방송국 ID",
    "SOOP_LIVE_API_URL": "SOOP 방송 정보 API 주소 (테스트용)",
    "SOOP_CHAT_URL": "SOOP 채팅 웹소켓 주소 (테스트용)",
    "DONATION_KRW_RATES": "다른 플랫폼 후원의 원화 환산",
    # 채팅 필터 / 답변 대기열
    "CHAT_MIN_LENGTH": "답할 최소 채팅 길이", "CHAT_MAX_LENGTH": "AI에게 보낼 최대 채팅 길이",
    "CHAT_DUPLICATE_WINDOW_S": "중복 채팅으로 보는 시간", "CHAT_MAX_CHAR_RUN": "같은 글자 반복 한도",
    "CHAT_USER_MAX_MESSAGES": "한 사람당 채팅 수 한도", "CHAT_USER_WINDOW_S": "도배 제한 시간 창",
    "BANNED_WORDS_PATH": "채팅 금지어 파일", "HIDE_STREAMER_CHAT": "방장 채팅 숨기기",
    "REPLY_QUEUE_SIZE": "답변 대기열 크기", "REPLY_BATCH_SIZE": "한 번에 읽는 채팅 수",
    "REPLY_MAX_AGE_S": "채팅에 답하는 시한",
    # 살아 있는 방송
    "IDLE_TALK_AFTER_S": "혼잣말까지 조용한 시간", "IDLE_TALK_MIN_GAP_S": "혼잣말 최소 간격",
    "TOPICS_PATH": "이야깃거리 파일", "DONATION_TIERS": "후원 반응 단계 (치즈)",
    # AI 답변
    "GROQ_API_KEY": "Groq API 키", "GROQ_MODEL": "AI 모델 이름", "GROQ_BASE_URL": "AI 서버 주소",
    "GROQ_STREAM": "답변 스트리밍", "GROQ_REASONING_EFFORT": "추론 강도",
    "GROQ_TIMEOUT_S": "AI 요청 제한 시간", "GROQ_MAX_ANSWER_CHARS": "답변 최대 길이",
    "GROQ_FALLBACK_MODELS": "한도가 다 되면 이어 답할 모델",
    "AI_BANNED_WORDS_PATH": "AI 금지어 파일", "CHARACTER_PATH": "캐릭터 성격 파일",
    "HISTORY_DIR": "대화 기록 폴더", "HISTORY_KEEP_TOKENS": "그대로 남길 최근 대화",
    "HISTORY_SUMMARIZE_AT": "요약을 시작할 대화 양", "HISTORY_LIMIT_TOKENS": "대화 기록 최대 양",
    # 목소리
    "TTS_ENGINE": "목소리 엔진", "TTS_REMOTE_URL": "원격 TTS 서버 주소",
    "TTS_REMOTE_MODEL": "원격 TTS 모델 이름", "TTS_REMOTE_VOICE": "원격 TTS 목소리 이름",
    "TTS_REMOTE_API_KEY": "원격 TTS 서버 키", "TTS_REMOTE_TIMEOUT_S": "원격 TTS 기다리는 시간",
    "TTS_REMOTE_SEND_REFERENCE": "목소리 샘플을 원격 서버에 보내기",
    "TTS_SERVER_API_KEY": "내 TTS 서버(tts-server) 키", "QWEN_TTS_MODEL": "로컬 TTS 모델",
    "TTS_DEVICE": "로컬 TTS 장치", "HF_HOME": "모델 캐시 폴더", "VOICE_SAMPLE": "목소리 샘플 파일",
    "VOICE_SAMPLE_TEXT": "목소리 샘플 대본 파일", "TTS_LANGUAGE": "말할 언어",
    "TTS_SEED": "목소리 고정 시드", "TTS_STREAMING": "로컬 TTS 스트리밍",
    "TTS_STREAM_FIRST_FRAMES": "첫 조각 프레임 수", "TTS_STREAM_CHUNK_FRAMES": "조각마다 프레임 수",
    "TTS_STREAM_LEFT_CONTEXT_FRAMES": "이음새용 앞 프레임 수",
    "TTS_STATIC_CACHE": "고정 KV 캐시 (NVIDIA)", "TTS_COMPILE": "GPU 가속 방식 (NVIDIA)",
    "SEGMENT_MIN_CHARS": "문장 조각 최소 길이", "SEGMENT_MAX_CHARS": "문장 조각 최대 길이",
    # 오디오 출력
    "AUDIO_OUTPUT_DEVICE": "AI 목소리 출력 장치", "AUDIO_MONITOR_DEVICE": "내가 들을 장치 (모니터)",
    "AUDIO_BLOCK_MS": "오디오 블록 길이",
    # VTube Studio
    "VTS_ENABLED": "VTube Studio 쓰기", "VTS_URL": "VTube Studio 주소",
    "VTS_TOKEN_PATH": "VTube Studio 토큰 파일", "POSE_MAPPING_PATH": "감정·표정 연결 파일",
    "VTS_FPS": "초당 움직임 프레임", "VTS_REQUEST_TIMEOUT_S": "VTube Studio 요청 제한 시간",
    "VTS_RECONNECT_MAX_S": "다시 연결 최대 간격",
    # 아바타
    "AVATAR": "내장 아바타", "AVATAR_PATH": "아바타 파일·폴더",
    # 오버레이 / 컨트롤 패널
    "OVERLAY_HOST": "패널을 여는 주소", "OVERLAY_PORT": "패널·오버레이 포트",
    "PANEL_PASSWORD": "설정 페이지 비밀번호", "OVERLAY_MAX_MESSAGES": "오버레이 최근 채팅 수",
    "OVERLAY_FADE_S": "오버레이 메시지가 사라지는 시간",
    # 음성 입력
    "VOICE_INPUT": "마이크 (음성 입력)", "VOICE_USER_NAME": "음성 채팅에 보일 내 이름",
    "VOICE_VAD_THRESHOLD": "말소리 감지 기준", "VOICE_MIN_SPEECH_MS": "말로 치는 최소 길이",
    "VOICE_TURN_DETECTION": "말이 끝났는지 정하는 방법", "VOICE_END_SILENCE_MS": "말이 끝났다고 볼 침묵", "VOICE_MAX_UTTERANCE_S": "한 번에 말할 최대 길이",
    "VOICE_BARGE_IN": "내가 말할 때 AI 목소리", "VOICE_BARGE_IN_MIN_MS": "끼어들기 최소 말 길이",
    "VOICE_DUCK_GAIN": "작게 할 때 AI 음량", "VOICE_ECHO_TAIL_MS": "AI 말 뒤에 안 듣는 시간",
    "STT_ENGINE": "음성 인식 엔진", "STT_MODEL": "음성 인식 모델", "STT_LANGUAGE": "인식 언어",
    "STT_BASE_URL": "음성 인식 서버 주소", "STT_API_KEY": "음성 인식 서버 키",
    "STT_TIMEOUT_S": "음성 인식 제한 시간", "STT_PROMPT": "인식 힌트",
    "STT_DEVICE": "로컬 whisper 장치", "STT_COMPUTE_TYPE": "로컬 whisper 연산 형식",
    # 기억
    "MEMORY_ENABLED": "시청자 기억", "MEMORY_PATH": "기억 파일",
    "MEMORY_PROMPT_TOKENS": "답변에 넣는 기억 양", "MEMORY_FORGET_COMMAND": "기억 지우기 명령어",
    "MEMORY_RETENTION_DAYS": "기억 보관 기간", "MEMORY_FACTS_PER_VIEWER": "시청자당 기억할 사실 수",
    "MEMORY_DISTILL_INTERVAL_S": "사실 뽑기 최소 간격",
    # 화면 보기
    "VISION": "화면 보기", "OBS_WS_URL": "OBS WebSocket 주소", "OBS_WS_PASSWORD": "OBS WebSocket 비밀번호",
    "OBS_SOURCE": "볼 OBS 소스·장면", "VISION_MODEL": "비전 모델", "VISION_BASE_URL": "비전 서버 주소",
    "VISION_API_KEY": "비전 서버 키", "VISION_INTERVAL_S": "화면 보내는 간격",
    # 도구
    "TOOLS": "AI 도구 쓰기", "MCP_CONFIG_PATH": "MCP 서버 목록 파일",
    "TOOLS_VIEWER_ALLOWED": "시청자 채팅이 부를 수 있는 도구", "TOOL_TIMEOUT_S": "도구 제한 시간",
    "TOOL_MAX_CALLS": "답변당 도구 호출 횟수",
    # 데몬
    "LOG_LEVEL": "로그 수준", "SHUTDOWN_TIMEOUT_S": "종료 대기 시간",
}

# The words of a list's choices ("" is "empty: the daemon decides").
CHOICE_LABELS: dict[str, dict[str, str]] = {
    "TTS_ENGINE": {"qwen": "내 PC의 Qwen3-TTS (qwen)", "remote": "원격 TTS 서버 (remote)",
                   "off": "끔: 글로만 답변 (off)"},
    "GROQ_REASONING_EFFORT": {"low": "낮음: 가장 빠름 (low)", "medium": "보통 (medium)",
                              "high": "높음 (high)"},
    "TTS_DEVICE": {"auto": "자동 (auto)", "cuda": "NVIDIA GPU (cuda)", "cpu": "CPU (cpu)",
                   "mps": "Apple GPU (mps)"},
    "TTS_COMPILE": {"off": "끔 (off)", "compile": "torch.compile (compile)",
                    "cudagraphs": "CUDA 그래프 (cudagraphs)"},
    "AVATAR": {"off": "끔 (off)", "png": "이미지 세트, PNGTuber (png)", "vrm": "VRM 모델 (vrm)",
               "live2d": "Live2D: 준비 중 (live2d)"},
    "VOICE_BARGE_IN": {"interrupt": "멈춤 (interrupt)", "duck": "작게 (duck)",
                       "ignore": "그대로: 내 말을 듣지 않음 (ignore)"},
    "STT_ENGINE": {"": "자동 (키가 있으면 groq, 없으면 끔)", "groq": "Groq 음성 인식 (groq)",
                   "whisper": "내 PC의 whisper (whisper)", "off": "끔 (off)"},
    "VOICE_TURN_DETECTION": {"smart": "말 끝 판정 모델 (smart)", "silence": "조용해지면 끝 (silence)"},
    "STT_DEVICE": {"auto": "자동 (auto)", "cuda": "NVIDIA GPU (cuda)", "cpu": "CPU (cpu)"},
    "LOG_LEVEL": {"DEBUG": "자세히 (DEBUG)", "INFO": "보통 (INFO)", "WARNING": "경고만 (WARNING)",
                  "ERROR": "오류만 (ERROR)"},
}

# Text boxes with usual values offered (the box still takes any value the model accepts).
SUGGESTIONS: dict[str, tuple[str, ...]] = {
    "CHAT_SOURCE": ("chzzk", "chzzk-web", "youtube", "soop", "local", "chzzk,youtube"),
    "VISION": ("off", "obs", "screen", "screen:1", "screen:2"),
    "TTS_LANGUAGE": ("Korean", "English", "Japanese", "Chinese"),
    "STT_COMPUTE_TYPE": ("default", "float16", "int8_float16", "int8"),
    "OVERLAY_HOST": ("127.0.0.1", "0.0.0.0"),
    "STT_LANGUAGE": ("ko", "en", "ja"),
}

ControlKind = Literal["switch", "choice", "number", "secret", "text"]


@dataclass(frozen=True, slots=True)
class Control:
    """How the page edits one setting."""

    kind: ControlKind = "text"
    choices: tuple[tuple[str, str], ...] = ()  # (value, Korean words)
    minimum: float | None = None
    maximum: float | None = None
    min_exclusive: bool = False  # "greater than", not "at least"
    max_exclusive: bool = False
    integer: bool = False
    optional: bool = False  # empty is allowed (unset: the default or a derived value)
    suggestions: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "optional": self.optional}
        if self.choices:
            out["choices"] = [{"value": v, "label": label} for v, label in self.choices]
        if self.kind == "number":
            out.update(min=self.minimum, max=self.maximum, min_exclusive=self.min_exclusive,
                       max_exclusive=self.max_exclusive, step="1" if self.integer else "any")
        if self.suggestions:
            out["suggestions"] = list(self.suggestions)
        return out


@dataclass(frozen=True, slots=True)
class SettingInfo:
    key: str
    group: str
    help: str
    default: str
    secret: bool
    label: str = ""
    advanced: bool = True
    control: Control = field(default_factory=Control)

    def page(self) -> dict[str, Any]:
        """What the settings page needs beyond the value: the Korean name, 고급 or not, the control."""
        return {"label": self.label or self.key, "advanced": self.advanced,
                "control": self.control.as_dict()}


@dataclass(slots=True)
class Catalog:
    groups: list[tuple[str, list[SettingInfo]]] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)  # group -> its own explanation

    def keys(self) -> list[str]:
        return [info.key for _, infos in self.groups for info in infos]

    def get(self, key: str) -> SettingInfo | None:
        return next((i for _, infos in self.groups for i in infos if i.key == key), None)


def _secret(name: str) -> bool:
    annotation = str(Settings.model_fields[name].annotation)
    return "SecretStr" in annotation or Settings.model_fields[name].annotation is SecretStr


def control_for(key: str) -> Control:
    """The control that fits the model's type for this key."""
    name = key.lower()
    info = Settings.model_fields[name]
    annotation: Any = info.annotation
    args = typing.get_args(annotation)
    optional = type(None) in args
    if optional:
        annotation = next(a for a in args if a is not type(None))
    if _secret(name):
        return Control("secret", optional=True)
    if annotation is bool:
        return Control("switch")
    if typing.get_origin(annotation) is Literal:
        words = CHOICE_LABELS.get(key, {})
        values = ([""] if optional else []) + [str(v) for v in typing.get_args(annotation)]
        return Control("choice", tuple((v, words.get(v, v or "(비움)")) for v in values),
                       optional=optional)
    if annotation in (int, float):
        low = high = None
        low_open = high_open = False
        for rule in info.metadata:
            if isinstance(rule, annotated_types.Ge):
                low = float(rule.ge)  # type: ignore[arg-type]
            elif isinstance(rule, annotated_types.Gt):
                low, low_open = float(rule.gt), True  # type: ignore[arg-type]
            elif isinstance(rule, annotated_types.Le):
                high = float(rule.le)  # type: ignore[arg-type]
            elif isinstance(rule, annotated_types.Lt):
                high, high_open = float(rule.lt), True  # type: ignore[arg-type]
        return Control("number", minimum=low, maximum=high, min_exclusive=low_open,
                       max_exclusive=high_open, integer=annotation is int, optional=optional)
    return Control("text", optional=optional or info.default in ("", None),
                   suggestions=SUGGESTIONS.get(key, ()))


def _info(key: str, group: str, help_text: str, default: str) -> SettingInfo:
    return SettingInfo(key, group, help_text, default, _secret(key.lower()), LABELS.get(key, ""),
                       key not in BASIC, control_for(key))


def _page_rank(group: str) -> int:
    plain = group.split(" (")[0].strip()
    return FIRST_GROUPS.index(plain) if plain in FIRST_GROUPS else len(FIRST_GROUPS)


def parse_catalog(example_text: str) -> Catalog:
    """A key's explanation is the comment lines directly above it (a blank line, a section or
    another key ends them: a key without its own lines has none). Comment lines right under a
    section header that end in a blank line explain the group."""
    fields = {name.upper(): name for name in Settings.model_fields}
    catalog = Catalog()
    group, comments = "기타", []
    seen: set[str] = set()
    group_top = False  # nothing but comments since the section header
    for line in example_text.splitlines():
        stripped = line.strip()
        if section := _SECTION.match(stripped):
            group, comments, group_top = section.group("name").strip(), [], True
            continue
        if stripped.startswith("#"):
            comments.append(stripped.lstrip("#").strip())
            continue
        if not stripped:
            if group_top and comments and group not in catalog.notes:
                catalog.notes[group] = " ".join(c for c in comments if c)
            comments, group_top = [], False
            continue
        group_top = False
        key_match = _KEY.match(stripped)
        if key_match and key_match.group("key") in fields and key_match.group("key") not in seen:
            key = key_match.group("key")
            seen.add(key)
            info = _info(key, group, " ".join(c for c in comments if c), key_match.group("value"))
            if not catalog.groups or catalog.groups[-1][0] != group:
                catalog.groups.append((group, []))
            catalog.groups[-1][1].append(info)
        comments = []  # the next key's explanation starts after this line
    for key in fields:  # never in the example: still editable, under 기타
        if key not in seen:
            if not catalog.groups or catalog.groups[-1][0] != "기타":
                catalog.groups.append(("기타", []))
            catalog.groups[-1][1].append(_info(key, "기타", "", ""))
    catalog.groups.sort(key=lambda item: _page_rank(item[0]))  # stable: the rest keep their order
    return catalog


def load_catalog(path: Path = EXAMPLE) -> Catalog:
    try:
        return parse_catalog(path.read_text(encoding="utf-8"))
    except OSError:
        return parse_catalog("")
