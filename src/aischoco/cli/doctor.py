"""`python -m aischoco doctor`: one table of every component and what to do next."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import socket
from pathlib import Path

import httpx

from ..audio.devices import AudioDeviceError, find_output
from .doctor_chat import TESTS as CHAT_TESTS, chat_checks, chat_test
from .doctor_checks import CHECK_TIMEOUT_S, Check, Level, http_status
from .doctor_listen import listen_checks
from ..settings.model import Settings
from ..compose.wiring import QWEN_INSTALL_HINT

async def run_checks(settings: Settings, env_file: Path | None) -> list[Check]:
    checks = [
        Check("설정", Level.OK, f"{env_file} 읽음" if env_file else ".env 없음: 기본값 사용",
              "" if env_file else ".env.example을 .env로 복사해 고치세요"),
        *await chat_checks(settings),
        await _llm(settings),
        *await _tts(settings),
        *await asyncio.to_thread(_audio, settings),
        await _vts(settings),
        *await listen_checks(settings),
        _overlay(settings),
        *await _running_daemon(settings),
        *_files(settings),
    ]
    return checks


async def check_one(what: str, settings: Settings) -> list[Check]:
    """One part of the doctor (the settings page's 테스트 buttons)."""
    if what == "groq":
        return [await _llm(settings)]
    if what == "tts":
        return await _tts(settings)
    if what == "audio":
        return await asyncio.to_thread(_audio, settings)
    if what == "vts":
        return [await _vts(settings)]
    if what == "chat" or what in CHAT_TESTS:
        return await chat_test(what, settings)
    raise ValueError(f"no check named {what!r}")


async def _llm(settings: Settings) -> Check:
    if settings.groq_api_key is None:
        return Check("AI 답변 (Groq)", Level.ERROR, "GROQ_API_KEY가 없습니다 (답변에 필요)",
                     ".env에 GROQ_API_KEY를 넣으세요 (console.groq.com)")
    headers = {"Authorization": f"Bearer {settings.groq_api_key.get_secret_value()}"}
    status, reach = await http_status(f"{settings.groq_base_url}/models", headers)
    where = f"{settings.groq_model} @ {settings.groq_base_url}: {reach}"
    if status == 200:
        return Check("AI 답변 (Groq)", Level.OK, where)
    if status in (401, 403):
        return Check("AI 답변 (Groq)", Level.ERROR, f"{where} (키가 거부됨)",
                     "GROQ_API_KEY를 다시 확인하세요")
    return Check("AI 답변 (Groq)", Level.WARN, where,
                 "인터넷 연결과 GROQ_BASE_URL을 확인하세요" if status is None else "")


TTS = "음성 합성"


async def _tts(settings: Settings) -> list[Check]:
    if settings.tts_engine == "off":
        return [Check(TTS, Level.OFF, "TTS_ENGINE=off: 답변은 글로만 표시")]
    if settings.tts_engine == "remote":
        return [await _remote_tts(settings)]
    if importlib.util.find_spec("qwen_tts") is None:
        return [Check(TTS, Level.ERROR, "로컬 Qwen3-TTS 패키지가 설치되지 않았습니다", QWEN_INSTALL_HINT)]
    return [_model_check(settings), *await asyncio.to_thread(_voice_sample_checks, settings)]


async def _remote_tts(settings: Settings) -> Check:
    """Is the server up, and does its speech endpoint take our model name? The probe sends an
    empty ``input``: vLLM-Omni checks ``model`` first (404 for a name it does not serve), and every
    server we know then refuses the empty text, so nothing is synthesized."""
    from ..tts.remote_body import names_unknown_model

    url, model = settings.tts_remote_url, settings.tts_remote_model
    assert url is not None
    status, reach = await http_status(f"{url}/health")
    if status is None:
        status, reach = await http_status(url)
    where = f"원격 TTS {url}: {reach}"
    if status is None or (status >= 500 and status != 503):
        return Check(TTS, Level.ERROR, where, "TTS 서버가 켜져 있는지, 주소와 방화벽을 확인하세요")
    key = settings.tts_remote_api_key.get_secret_value() if settings.tts_remote_api_key else ""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    code, message = await _speech_probe(f"{url}/v1/audio/speech", model, headers, key)
    said = f" ({code}: {message[:120]})" if code and message else f" ({code or message})"
    if names_unknown_model(code, message):
        served = await _served_models(url, headers)
        listed = f" — 서버가 가진 모델: {', '.join(served)}" if served else ""
        return Check(TTS, Level.ERROR, f"{where} · 서버에 '{model}' 모델이 없음{said}",
                     f"모델 이름: vLLM-Omni는 --served-model-name {model} 를 붙여 시작하거나, "
                     f"TTS_REMOTE_MODEL을 서버의 HF id로 바꾸세요{listed}")
    if code == 404:
        return Check(TTS, Level.ERROR, f"{where} · /v1/audio/speech가 없음{said}",
                     "TTS_REMOTE_URL에는 /v1 없이 서버 주소만 적습니다 (예: http://192.168.0.10:8880)")
    if code in (401, 403):
        return Check(TTS, Level.ERROR, f"{where} · 키가 거부됨{said}",
                     "TTS_REMOTE_API_KEY를 서버의 키와 같게 하세요")
    if 503 in (status, code):
        return Check(TTS, Level.WARN, f"{where} · 모델을 불러오는 중",
                     "준비되면 자동으로 연결됩니다 (잠시 뒤 다시 확인)")
    if code is None or code >= 500:
        return Check(TTS, Level.WARN, f"{where} · 음성 요청 확인 실패{said}",
                     "TTS 서버의 로그를 확인하세요")
    return Check(TTS, Level.OK, f"{where} · model '{model}' 받음")


async def _speech_probe(url: str, model: str, headers: dict[str, str],
                        secret: str) -> tuple[int | None, str]:
    """(status, the server's error message) for an empty speech request; the body is read only
    when it is an error."""
    from ..tts.remote_body import error_message

    raw = b""
    try:
        async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_S) as client:
            async with client.stream("POST", url, headers=headers, json={
                    "model": model, "input": "", "response_format": "pcm"}) as response:
                if response.status_code >= 400:
                    async for piece in response.aiter_bytes():
                        raw += piece
                        if len(raw) >= 4096:
                            break
    except httpx.HTTPError as exc:
        return None, f"연결 안 됨 ({type(exc).__name__})"
    message = " ".join(error_message(raw[:4096]).split())
    return response.status_code, message.replace(secret, "***") if secret else message


async def _served_models(url: str, headers: dict[str, str]) -> list[str]:
    """The model ids ``GET /v1/models`` lists (the first three), or none."""
    try:
        async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_S) as client:
            data = (await client.get(f"{url}/v1/models", headers=headers)).json()["data"]
        return [str(m["id"]) for m in data if isinstance(m, dict) and "id" in m][:3]
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return []


def _model_check(settings: Settings) -> Check:
    from ..tts.qwen_loader import looks_like_path

    model = settings.qwen_tts_model
    if Path(model).expanduser().is_dir() or looks_like_path(model):
        found = (Path(model).expanduser() / "config.json").is_file()
        return Check(TTS, Level.OK if found else Level.ERROR, f"로컬 Qwen3-TTS {model}: "
                     + ("폴더 있음" if found else "config.json이 있는 모델 폴더가 아닙니다"),
                     "" if found else "QWEN_TTS_MODEL을 확인하세요")
    cached = settings.hf_home / "hub" / f"models--{model.replace('/', '--')}"
    if cached.is_dir():
        return Check(TTS, Level.OK, f"로컬 Qwen3-TTS {model}: 내려받음 ({cached})")
    return Check(TTS, Level.WARN, f"로컬 Qwen3-TTS {model}: 아직 내려받지 않음",
                 "처음 실행할 때 자동으로 내려받습니다 (1.7B 약 4 GB, 0.6B 약 2 GB)")


def _voice_sample_checks(settings: Settings) -> list[Check]:
    from ..tts.audio_decode import AudioDecodeError, decode_audio
    from ..tts.sample_analysis import analyze
    from ..tts.voice_sample import VoiceSampleError, load_reference

    try:
        reference = load_reference(settings.voice_sample, settings.voice_sample_text)
    except VoiceSampleError as exc:
        return [Check("목소리 샘플", Level.ERROR, str(exc),
                      "컨트롤 패널의 🎤 목소리(/voice)에서 녹음하거나 "
                      "assets/voice_samples/README.md의 녹음 방법을 따르세요")]
    # The voice studio's checks (levels, noise, clipping, length), so both say the same thing.
    try:
        samples, rate = decode_audio(settings.voice_sample.read_bytes())
        advice = [a.message for a in analyze(samples, rate).advice]
    except (OSError, AudioDecodeError) as exc:  # read once already; e.g. longer than 2 minutes
        advice = [str(exc).split(" / ")[0]]
    return [Check("목소리 샘플", Level.WARN if advice else Level.OK,
                  f"{settings.voice_sample}: 음성 {reference.speech_s:.1f}초, 대본 {len(reference.text)}자",
                  " ".join(advice + (["컨트롤 패널의 🎤 목소리(/voice)에서 다시 녹음할 수 있습니다"]
                                     if advice else [])))]


def _audio(settings: Settings) -> list[Check]:
    if settings.tts_engine == "off" or settings.audio_output_device == "none":
        return [Check("오디오 출력", Level.OFF, "소리를 내보내지 않음")]
    checks = []
    for label, spec in (("오디오 출력", settings.audio_output_device),
                        ("모니터 출력", settings.audio_monitor_device)):
        if not spec or spec == "none":
            continue
        if spec.startswith("file:"):
            folder = Path(spec[5:]).parent
            ok = folder.is_dir() or not folder.exists()
            checks.append(Check(label, Level.OK if ok else Level.ERROR,
                                f"{spec[5:]} 파일에 실시간으로 기록"))
            continue
        try:
            device = find_output(spec)
        except AudioDeviceError as exc:
            checks.append(Check(label, Level.ERROR, str(exc), exc.hint or
                                "python -m aischoco devices로 이름을 확인하세요 (VB-Cable: CABLE Input)"))
            if exc.hint:  # the library itself is missing: the monitor row would say the same
                break
            continue
        checks.append(Check(label, Level.OK, f"{device.name} ({device.hostapi}, "
                                             f"{device.default_rate} Hz, 번호 {device.index})"))
    return checks


async def _vts(settings: Settings) -> Check:
    """Reachability, API version, whether the saved token is accepted (no popup from doctor),
    and the pose mapping's full validation (JSON path and reason)."""
    from ..vtuber.mapping import MappingError, load_mapping

    if not settings.vts_enabled:
        return Check("VTube Studio", Level.OFF, "VTS_ENABLED=false")
    level, detail, todo = await _vts_link(settings)
    try:
        mapping = load_mapping(settings.pose_mapping_path)
    except MappingError as exc:
        return Check("VTube Studio", Level.ERROR, f"{detail} · 포즈 매핑 오류: {exc}",
                     f"{settings.pose_mapping_path}를 고치세요 (스키마: pose_mapping.schema.json)")
    return Check("VTube Studio", level,
                 f"{detail} · 포즈 매핑 OK ({len(mapping.parameters)}개 파라미터)", todo)


async def _vts_link(settings: Settings) -> tuple[Level, str, str]:
    from ..vtuber.auth import authenticate
    from ..vtuber.client import VtsClient
    from ..vtuber.protocol import VtsError
    from ..vtuber.tokens import TokenStore

    try:
        client = await VtsClient.open(settings.vts_url, timeout_s=CHECK_TIMEOUT_S)
    except VtsError:
        return (Level.WARN, f"{settings.vts_url}: 연결 안 됨 (VTube Studio 실행 · API 켜기 확인)",
                "VTube Studio 설정에서 'API 시작'을 켜세요 · 안 쓰면 VTS_ENABLED=false")
    try:
        state = await client.request("APIStateRequest")
        version = f"VTube Studio {state.get('vTubeStudioVersion', '?')}"
        token = TokenStore(settings.vts_token_path).load()
        if token is None:
            return (Level.WARN, f"{version} 연결됨 · 토큰 없음",
                    "python -m aischoco auth vts (또는 첫 실행 때 VTube Studio에서 허용)")
        if not await authenticate(client, token):
            return (Level.WARN, f"{version} · 저장된 토큰이 거부됨",
                    "python -m aischoco auth vts 로 새 토큰을 받으세요")
        return Level.OK, f"{version} · 인증됨", ""
    except VtsError as exc:
        return (Level.WARN, f"{settings.vts_url}: 연결은 됐지만 VTube Studio가 답하지 않았습니다 ({exc})",
                "VTube Studio를 다시 켜 보세요")
    finally:
        await client.aclose()


def _overlay(settings: Settings) -> Check:
    family = socket.AF_INET6 if ":" in settings.overlay_host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.bind((settings.overlay_host, settings.overlay_port))
    except OSError as exc:
        return Check("오버레이 서버", Level.WARN,
                     f"{settings.overlay_host}:{settings.overlay_port} 사용 중 ({exc.strerror})",
                     "데몬이 이미 실행 중이 아니라면 OVERLAY_PORT를 바꾸세요")
    return Check("오버레이 서버", Level.OK, f"{settings.overlay_base_url}/overlay 사용 가능")


LIVE_LEVELS = {"running": Level.OK, "off": Level.OFF, "unavailable": Level.OFF}


async def _running_daemon(settings: Settings) -> list[Check]:
    """If a daemon already serves OVERLAY_PORT, show its live component states (e.g. the chat
    connection: connected, reconnecting in N s, login needed)."""
    try:
        async with httpx.AsyncClient(timeout=2.0) as client:
            response = await client.get(f"{settings.overlay_base_url}/api/status")
        components = response.json()["components"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return []
    return [Check(f"실행 중: {c.get('label', c.get('name'))}",
                  LIVE_LEVELS.get(c.get("state"), Level.WARN),
                  f"{c.get('state')} — {c.get('detail', '')}", c.get("hint", ""))
            for c in components if isinstance(c, dict)]


def _files(settings: Settings) -> list[Check]:
    out = []
    if settings.character_path.exists():
        out.append(Check("캐릭터 설정", Level.OK, str(settings.character_path)))
    else:
        out.append(Check("캐릭터 설정", Level.WARN, f"{settings.character_path} 없음",
                         "기본 성격으로 답합니다; 파일을 만들면 반영됩니다"))
    path = settings.pose_mapping_path
    try:
        json.loads(path.read_text("utf-8"))
        out.append(Check("포즈 매핑", Level.OK, str(path)))
    except FileNotFoundError:
        out.append(Check("포즈 매핑", Level.WARN, f"{path} 없음"))
    except (ValueError, OSError) as exc:
        out.append(Check("포즈 매핑", Level.ERROR, f"{path}: {exc}", "JSON 문법을 고치세요"))
    return out
