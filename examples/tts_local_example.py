"""Say one sentence with the local Qwen3-TTS voice clone and write it to a WAV file.

    pip install -r requirements-tts.txt   (see the install notes at the top of that file)
    python examples/tts_local_example.py "안녕하세요, 초코예요!" --out choco.wav

Uses the daemon's settings (.env): QWEN_TTS_MODEL, TTS_DEVICE, HF_HOME, VOICE_SAMPLE,
VOICE_SAMPLE_TEXT, TTS_LANGUAGE. The first run downloads the model into HF_HOME (several GB).
On a CPU this is slower than real time; it still works for a check.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path

from aischoco.core.stages import StageError
from aischoco.settings.model import SettingsError, load_settings
from aischoco.tts.qwen_engine import QwenEngine
from aischoco.tts.qwen_loader import TtsLoadError


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("text", nargs="?", default="안녕하세요, 초코예요! 오늘도 같이 재밌게 놀아요.")
    parser.add_argument("--out", type=Path, default=Path("tts_local_example.wav"))
    parser.add_argument("--seed", type=int, default=None, help="같은 문장 → 같은 소리")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(".env")
    except SettingsError as err:
        print(err)
        return 2

    engine = QwenEngine(settings.qwen_tts_model, device=settings.tts_device,
                        hf_home=settings.hf_home, voice_wav=settings.voice_sample,
                        voice_text=settings.voice_sample_text, language=settings.tts_language,
                        seed=args.seed)
    try:
        report = await engine.load()
        print(f"모델: {report.source} · {report.device} · {report.dtype} · {report.attention} "
              f"(불러오기 {report.load_s:.1f}초, 목소리 프롬프트 {report.prompt_s:.2f}초)")
        for warning in report.warnings:
            print("주의:", warning)
        import numpy as np
        import soundfile as sf

        started = time.monotonic()
        first_at, pieces, rate = None, [], 24_000
        async for chunk in engine.synthesize(args.text):
            first_at = first_at or time.monotonic() - started
            pieces.append(np.frombuffer(chunk.pcm, dtype="<i2"))
            rate = chunk.sample_rate
        elapsed = time.monotonic() - started
        audio = np.concatenate(pieces) if pieces else np.zeros(0, dtype="<i2")
        sf.write(args.out, audio, rate, subtype="PCM_16")
        seconds = len(audio) / rate
        print(f"{args.out}: {seconds:.2f}초 분량, 합성 {elapsed:.2f}초 (첫 조각 {first_at or 0:.2f}초, "
              f"실시간 대비 {elapsed / max(seconds, 1e-9):.2f}배)")
        return 0
    except (TtsLoadError, StageError) as err:
        print(err)
        return 1
    finally:
        await engine.aclose()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
