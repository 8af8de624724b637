"""Finding the output device the streamer named: "default", an index, or part of its name.

PortAudio (through sounddevice) is imported lazily: the daemon runs without it (text only), and
the error says how to get it. Resolution itself is pure and works on plain dicts for tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# On Windows one device appears once per host API. WASAPI (shared) has the lowest latency that
# works for every device; MME truncates names to 31 characters, so it is a last resort.
HOSTAPI_PREFERENCE = ("Windows WASAPI", "Core Audio", "ALSA", "JACK Audio Connection Kit",
                      "Windows DirectSound", "MME", "Windows WDM-KS", "OSS")

PORTAUDIO_MISSING = ("오디오 라이브러리(PortAudio)를 찾을 수 없습니다 — Linux: sudo apt install libportaudio2 "
                     "(PortAudio library not found)")


class AudioDeviceError(Exception):
    """The configured device cannot be used; str() is one line for the streamer."""


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
        raise AudioDeviceError(PORTAUDIO_MISSING) from exc
    except Exception as exc:  # noqa: BLE001 - PortAudioError: the sound system failed to start
        raise AudioDeviceError(f"오디오 시스템을 시작할 수 없습니다 (PortAudio): {exc}") from exc
    return sounddevice


def list_output_devices(*, refresh: bool = False) -> list[OutputDevice]:
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
    try:
        default_out = sd.default.device[1]
    except Exception:  # noqa: BLE001 - no default device configured
        default_out = -1
    devices = []
    for info in sd.query_devices():
        if info["max_output_channels"] <= 0:
            continue
        devices.append(OutputDevice(
            index=info["index"], name=info["name"], hostapi=hostapis[info["hostapi"]]["name"],
            channels=info["max_output_channels"], default_rate=int(info["default_samplerate"]),
            is_default=info["index"] == default_out))
    return devices


def _preference(device: OutputDevice) -> int:
    try:
        return HOSTAPI_PREFERENCE.index(device.hostapi)
    except ValueError:
        return len(HOSTAPI_PREFERENCE)


def resolve_output(spec: str, devices: Sequence[OutputDevice]) -> OutputDevice:
    """`default`, a number (PortAudio index) or a case-insensitive part of the name."""
    spec = spec.strip()
    if not devices:
        raise AudioDeviceError(f"출력 오디오 장치가 하나도 없어 '{spec}'을(를) 열 수 없습니다 "
                               f"(no audio output devices; cannot open '{spec}')")
    if spec.lower() == "default":
        for device in devices:
            if device.is_default:
                return device
        raise AudioDeviceError("기본 출력 장치가 없습니다 — AUDIO_OUTPUT_DEVICE에 장치 이름을 적으세요 "
                               "(no default output device; name one)")
    if spec.isdigit():
        for device in devices:
            if device.index == int(spec):
                return device
        raise AudioDeviceError(f"출력 장치 번호 {spec}가 없습니다 — `python -m aischoco devices`로 "
                               f"목록을 확인하세요 (no output device with index {spec})")
    matches = [d for d in devices if spec.lower() in d.name.lower()]
    if not matches:
        raise AudioDeviceError(f"'{spec}' 이름의 출력 장치가 없습니다 — `python -m aischoco devices`로 "
                               f"목록을 확인하세요 (no output device matching '{spec}')")
    return min(matches, key=lambda d: (_preference(d), d.index))


def find_output(spec: str, *, refresh: bool = False) -> OutputDevice:
    return resolve_output(spec, list_output_devices(refresh=refresh))
