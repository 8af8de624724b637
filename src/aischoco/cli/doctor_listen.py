"""`doctor` rows for the streamer's voice input: the microphone (or file), the VAD model and the
speech-to-text engine. Only checked when VOICE_INPUT is on; then a missing part is an error."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

from ..audio.devices import AudioDeviceError, find_input
from .doctor_checks import Check, Level, http_status
from ..settings.model import Settings
from ..compose.wiring import LISTENER_INSTALL_HINT

MIC = "음성 입력 (마이크)"
STT = "음성 인식 (STT)"


async def listen_checks(settings: Settings) -> list[Check]:
    spec = settings.voice_input.strip()
    if not settings.voice_input_on:
        return [Check(MIC, Level.OFF, "VOICE_INPUT=off: 채팅으로만 대화",
                      "말로 대화하려면 VOICE_INPUT에 마이크 이름을 적으세요 (devices 참고)")]
    return [await asyncio.to_thread(_input_check, spec), await asyncio.to_thread(_vad_check),
            await _stt_check(settings)]


def _input_check(spec: str) -> Check:
    if spec.startswith("file:"):
        import soundfile

        try:
            info = soundfile.info(spec[5:])
        except Exception as exc:  # noqa: BLE001 - missing, unreadable, not audio
            return Check(MIC, Level.ERROR, f"{spec[5:]}: 읽을 수 없습니다 ({exc})",
                         "WAV 파일 경로를 확인하세요")
        return Check(MIC, Level.OK, f"{spec[5:]}: {info.duration:.1f}초, {info.samplerate} Hz "
                                    "(실시간으로 재생해 들음)")
    try:
        device = find_input(spec)
    except AudioDeviceError as exc:
        return Check(MIC, Level.ERROR, str(exc), "python -m aischoco devices로 마이크 이름을 확인하세요")
    return Check(MIC, Level.OK, f"{device.name} ({device.hostapi}, {device.default_rate} Hz, "
                                f"번호 {device.index})")


def _vad_check() -> Check:
    from ..listen.vad import SileroVad, VadUnavailable

    if importlib.util.find_spec("onnxruntime") is None:
        return Check("음성 감지 (VAD)", Level.ERROR, "onnxruntime이 없습니다", LISTENER_INSTALL_HINT)
    try:
        SileroVad.load()
    except VadUnavailable as exc:
        return Check("음성 감지 (VAD)", Level.ERROR, str(exc), LISTENER_INSTALL_HINT)
    return Check("음성 감지 (VAD)", Level.OK, "Silero VAD 모델 로드됨 (ONNX, CPU 1스레드)")


async def _stt_check(settings: Settings) -> Check:
    if settings.stt_engine == "off":
        return Check(STT, Level.ERROR, "음성 인식 엔진이 없습니다 (STT_ENGINE=off)",
                     "GROQ_API_KEY를 넣거나 STT_ENGINE=whisper로 설정하세요")
    if settings.stt_engine == "whisper":
        if importlib.util.find_spec("faster_whisper") is None:
            return Check(STT, Level.ERROR, "faster-whisper가 설치되지 않았습니다", LISTENER_INSTALL_HINT)
        model = settings.stt_model or "auto"
        if Path(model).expanduser().is_dir():
            found = (Path(model).expanduser() / "model.bin").is_file()
            return Check(STT, Level.OK if found else Level.ERROR,
                         f"로컬 whisper {model}: " + ("폴더 있음" if found else "model.bin이 없습니다"))
        return Check(STT, Level.OK, f"로컬 whisper {model} ({settings.stt_device}): "
                     "처음 실행할 때 내려받습니다" if not _whisper_cached(settings, model)
                     else f"로컬 whisper {model}: 내려받음")
    key = settings.stt_api_key or settings.groq_api_key
    base = settings.stt_base_url or settings.groq_base_url
    assert key is not None  # stt_engine=groq is chosen only with a key
    status, reach = await http_status(f"{base}/models",
                                       {"Authorization": f"Bearer {key.get_secret_value()}"})
    where = f"{settings.stt_model or 'whisper-large-v3-turbo'} @ {base}: {reach}"
    if status == 200:
        return Check(STT, Level.OK, where)
    if status in (401, 403):
        return Check(STT, Level.ERROR, f"{where} (키가 거부됨)", "STT_API_KEY / GROQ_API_KEY를 확인하세요")
    return Check(STT, Level.WARN, where, "인터넷 연결과 STT_BASE_URL을 확인하세요")


def _whisper_cached(settings: Settings, model: str) -> bool:
    root = settings.hf_home / "whisper"
    return root.is_dir() and any(model.split("/")[-1] in p.name for p in root.iterdir())
