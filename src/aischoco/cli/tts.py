"""The voice commands: `devices` (outputs and microphones), `say TEXT` (TTS + audio without the LLM) and
`tts-server` (this PC's Qwen3-TTS as a remote TTS server)."""

from __future__ import annotations

import asyncio
import logging
import sys

from ..audio.devices import (AudioDeviceError, Direction, OutputDevice, list_devices,
                            resolve_device)
from ..core.segmenter import segment
from ..show.speech import SpeechLog, SpeechPipeline
from ..core.status import ComponentStatus, State, StatusBoard
from ..settings.model import Settings
from ..compose.wiring import build_audio, build_tts, segmenter_config, tts_row

log = logging.getLogger(__name__)


def run_devices(settings: Settings) -> int:
    """Both tables: outputs (AUDIO_OUTPUT_DEVICE) and microphones (VOICE_INPUT)."""
    try:
        outputs, inputs = list_devices("output"), list_devices("input")
    except AudioDeviceError as exc:
        print(f"aischoco devices: {exc}", file=sys.stderr)
        if exc.hint:  # the sound library itself is missing: no list can be made until installed
            print(f"→ 설치: {exc.hint}", file=sys.stderr)
        return 1
    _print_devices("출력 장치 (output devices) — AUDIO_OUTPUT_DEVICE에 이름 일부나 번호를 적으세요",
                   outputs, _chosen("AUDIO_OUTPUT_DEVICE", settings.audio_output_device, outputs,
                                    "output"),
                   cable="cable input")
    if not outputs:
        print("출력 장치가 없습니다. VB-Cable: https://vb-audio.com/Cable/ 설치 후 다시 실행하세요.")
    print()
    _print_devices("입력 장치 (microphones) — VOICE_INPUT에 이름 일부나 번호를 적으세요",
                   inputs, _chosen("VOICE_INPUT", settings.voice_input, inputs, "input"))
    if not inputs:
        print("마이크가 없습니다 (no input devices).")
    print("\n* 기본 장치   → 지금 설정으로 쓰일 장치")
    return 0


def _chosen(key: str, spec: str, devices: list[OutputDevice], direction: Direction) -> int | None:
    if spec in ("none", "off") or spec.startswith("file:"):
        return None
    try:
        return resolve_device(spec, devices, direction).index
    except AudioDeviceError as exc:
        print(f"{key}={spec}: {exc}\n")
        return None


def _print_devices(title: str, devices: list[OutputDevice], chosen: int | None,
                   cable: str = "") -> None:
    print(title)
    print(" 번호  채널  기본 Hz  API                   이름")
    for d in devices:
        mark = "→" if d.index == chosen else ("*" if d.is_default else " ")
        note = "   ← VB-Cable" if cable and cable in d.name.lower() else ""
        print(f"{mark}{d.index:>4}  {d.channels:>4}  {d.default_rate:>7}  {d.hostapi:<20}  "
              f"{d.name}{note}")


def run_say(settings: Settings, text: str, emotion: str) -> int:
    try:
        return asyncio.run(_say(settings, text, emotion))
    except KeyboardInterrupt:
        print("aischoco say: 취소됨 — cancelled", file=sys.stderr)
        return 1


async def _say(settings: Settings, text: str, emotion: str) -> int:
    row = tts_row(settings)
    if row.state is not State.STARTING:
        print(f"aischoco say: {row.detail}" + (f" → {row.hint}" if row.hint else ""),
              file=sys.stderr)
        return 1
    if settings.audio_output_device == "none":
        print("aischoco say: AUDIO_OUTPUT_DEVICE=none — 소리를 낼 장치가 없습니다", file=sys.stderr)
        return 1
    if any(spec and spec != "none" and not spec.startswith("file:")
           for spec in (settings.audio_output_device, settings.audio_monitor_device)):
        try:  # without the sound library the output would retry forever: say why, now
            await asyncio.to_thread(list_devices, "output")
        except AudioDeviceError as exc:
            if exc.hint:
                print(f"aischoco say: {exc}\n→ 설치: {exc.hint}", file=sys.stderr)
                return 1
    board = StatusBoard()
    board.subscribe(_print_status)
    engine, audio = build_tts(settings), build_audio(settings)
    tasks = [asyncio.create_task(c.run(board.register(c.name, label)), name=c.name)
             for c, label in ((engine, "음성 합성"), (audio, "오디오 출력"))]
    try:
        while not (engine.available and audio.available):
            failed = next((t for t in tasks if t.done()), None)
            if failed is not None:
                exc = failed.exception()
                print(f"aischoco say: {failed.get_name()}: {exc}", file=sys.stderr)
                return 1
            await asyncio.sleep(0.05)
        record = SpeechLog()
        sentences = segment(text, segmenter_config(settings))
        log.info("say (%s): %d sentence(s)", emotion, len(sentences))
        await SpeechPipeline(engine, audio).speak(
            sentences, record, on_playing=lambda s: print(f"  ▶ {s}", flush=True))
        if record.failed:
            print(f"aischoco say: {len(record.failed)}개 문장을 합성하지 못했습니다", file=sys.stderr)
        return 0 if record.heard and not record.failed else 1
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await audio.aclose()
        await engine.aclose()


def _print_status(item: ComponentStatus) -> None:
    hint = f" → {item.hint}" if item.hint else ""
    print(f"[{item.label}] {item.state.value}: {item.detail}{hint}", flush=True)


def run_tts_server(settings: Settings, host: str, port: int) -> int:
    import importlib.util

    from ..core.signals import stop_on_signals
    from ..tts.server import serve_tts
    from ..compose.wiring import QWEN_INSTALL_HINT

    if importlib.util.find_spec("qwen_tts") is None:
        print(f"aischoco tts-server: 로컬 Qwen3-TTS 패키지가 없습니다 → {QWEN_INSTALL_HINT}",
              file=sys.stderr)
        return 1
    engine = build_tts(settings.model_copy(update={"tts_engine": "qwen"}))
    key = settings.tts_server_api_key

    async def serve() -> None:
        stop = asyncio.Event()
        with stop_on_signals(stop):
            await serve_tts(engine, host, port, model_name=settings.qwen_tts_model, stop=stop,
                            api_key=key.get_secret_value() if key else None,
                            on_listening=lambda url: print(f"TTS 서버: {url}/v1/audio/speech "
                                                           f"(TTS_REMOTE_URL={url})", flush=True))

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        return 0
    except Exception as exc:  # noqa: BLE001 - one line for the streamer, not a traceback
        print(f"aischoco tts-server: {exc}", file=sys.stderr)
        return 1
    return 0
