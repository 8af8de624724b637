"""Finding the device the streamer named: "default", an index, or part of its name — speakers or
virtual cable for the AI's voice (output), the microphone for the streamer's voice (input).

PortAudio (through sounddevice) is imported lazily: the daemon runs without it (text only), and
the error says how to get it. Resolution itself is pure and works on plain dicts for tests.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

log = logging.getLogger(__name__)

Direction = Literal["output", "input"]
_KO = {"output": "출력", "input": "입력"}
_SETTING = {"output": "AUDIO_OUTPUT_DEVICE", "input": "VOICE_INPUT"}

# On Windows one device appears once per host API. WASAPI (shared) has the lowest latency that
# works for every device; MME truncates names to 31 characters, so it is a last resort.
HOSTAPI_PREFERENCE = ("Windows WASAPI", "Core Audio", "ALSA", "JACK Audio Connection Kit",
                      "Windows DirectSound", "MME", "Windows WDM-KS", "OSS")

PORTAUDIO_MISSING = ("소리를 내는 라이브러리 PortAudio가 이 PC에 없습니다 — 설치하면 소리가 납니다 "
                     "(PortAudio library not found)")


def portaudio_install(system: str | None = None) -> str:
    """How to install PortAudio on this OS (`system`: platform.system() by default)."""
    system = system or platform.system()
    if system == "Windows":  # the Windows wheel carries the DLL: a broken install lost it
        return ("sounddevice를 다시 설치하세요 (Windows용 sounddevice에 PortAudio가 들어 있습니다): "
                "pip install --force-reinstall sounddevice")
    if system == "Darwin":
        return "brew install portaudio"
    return ("Debian/Ubuntu: sudo apt install libportaudio2 "
            "(Fedora: sudo dnf install portaudio · Arch: sudo pacman -S portaudio)")


class AudioDeviceError(Exception):
    """The configured device cannot be used; str() is one line for the streamer. `hint`, when
    set, is what to do instead of checking the device name (the sound library is missing)."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True, slots=True)
class OutputDevice:
    index: int
    name: str
    hostapi: str
    channels: int
    default_rate: int
    is_default: bool = False


def _sounddevice() -> Any:
    try:
        import sounddevice
    except OSError as exc:  # the Python package is there, the PortAudio library is not
        raise AudioDeviceError(PORTAUDIO_MISSING, hint=portaudio_install()) from exc
    except Exception as exc:  # noqa: BLE001 - PortAudioError: the sound system failed to start
        raise AudioDeviceError(f"오디오 시스템을 시작할 수 없습니다 (PortAudio): {exc}") from exc
    return sounddevice


def list_devices(direction: Direction = "output", *, refresh: bool = False) -> list[OutputDevice]:
    """`refresh` re-initialises PortAudio, which lists devices only once per initialisation, so a
    cable plugged in (or reinstalled) later is found. Only while no stream of ours is open."""
    sd = _sounddevice()
    if refresh:
        sd._terminate()
        try:
            sd._initialize()
        except Exception as exc:  # noqa: BLE001 - PortAudioError: driver or configuration broken
            raise AudioDeviceError(f"오디오 시스템을 다시 시작할 수 없습니다 (PortAudio): {exc}") from exc
    hostapis = sd.query_hostapis()
    slot = 1 if direction == "output" else 0
    try:
        default_index = sd.default.device[slot]
    except Exception:  # noqa: BLE001 - no default device configured
        default_index = -1
    devices = []
    for info in sd.query_devices():
        channels = info[f"max_{direction}_channels"]
        if channels <= 0:
            continue
        devices.append(OutputDevice(
            index=info["index"], name=info["name"], hostapi=hostapis[info["hostapi"]]["name"],
            channels=channels, default_rate=int(info["default_samplerate"]),
            is_default=info["index"] == default_index))
    return devices


def list_output_devices(*, refresh: bool = False) -> list[OutputDevice]:
    return list_devices("output", refresh=refresh)


def _preference(device: OutputDevice) -> int:
    try:
        return HOSTAPI_PREFERENCE.index(device.hostapi)
    except ValueError:
        return len(HOSTAPI_PREFERENCE)


def resolve_device(spec: str, devices: Sequence[OutputDevice],
                   direction: Direction = "output") -> OutputDevice:
    """`default`, a number (PortAudio index) or a case-insensitive part of the name."""
    spec = spec.strip()
    ko, key = _KO[direction], _SETTING[direction]
    if not devices:
        raise AudioDeviceError(f"{ko} 오디오 장치가 하나도 없어 '{spec}'을(를) 열 수 없습니다 "
                               f"(no audio {direction} devices; cannot open '{spec}')")
    if spec.lower() == "default":
        for device in devices:
            if device.is_default:
                return device
        raise AudioDeviceError(f"기본 {ko} 장치가 없습니다 — {key}에 장치 이름을 적으세요 "
                               f"(no default {direction} device; name one)")
    if spec.isdigit():
        for device in devices:
            if device.index == int(spec):
                return device
        raise AudioDeviceError(f"{ko} 장치 번호 {spec}가 없습니다 — `python -m aischoco devices`로 "
                               f"목록을 확인하세요 (no {direction} device with index {spec})")
    matches = [d for d in devices if spec.lower() in d.name.lower()]
    if not matches:
        raise AudioDeviceError(f"'{spec}' 이름의 {ko} 장치가 없습니다 — `python -m aischoco devices`로 "
                               f"목록을 확인하세요 (no {direction} device matching '{spec}')")
    return min(matches, key=lambda d: (_preference(d), d.index))


def resolve_output(spec: str, devices: Sequence[OutputDevice]) -> OutputDevice:
    return resolve_device(spec, devices, "output")


def find_output(spec: str, *, refresh: bool = False) -> OutputDevice:
    return resolve_output(spec, list_output_devices(refresh=refresh))


def find_input(spec: str, *, refresh: bool = False) -> OutputDevice:
    """The microphone VOICE_INPUT names (same rules as outputs)."""
    return resolve_device(spec, list_devices("input", refresh=refresh), "input")


def stream_problem(stream: Any, last_callback: float, now: float, stall_s: float,
                   label: str, device_word: str) -> str | None:
    """Why a PortAudio stream (ours, input or output) stopped working, or None while it is fine.
    A stream whose callback has not run for `stall_s` lost its device (unplugged, driver reset)."""
    if stream is None:
        return f"{device_word}가 열려 있지 않습니다"
    if not stream.active:
        return f"{device_word}가 멈췄습니다: {label}"
    if now - last_callback > stall_s:
        return f"{device_word}가 응답하지 않습니다 (분리되었나요?): {label}"
    return None


def close_stream(stream: Any) -> None:
    """Abort and close; the device may already be gone, which is fine here."""
    if stream is None:
        return
    try:
        stream.abort()
        stream.close()
    except Exception:  # noqa: BLE001 - PortAudioError or a driver's own exception
        log.debug("closing an audio stream failed", exc_info=True)
