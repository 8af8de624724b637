"""Speak one sentence through a remote TTS server into a WAV file, and show how fast it streamed.

    python examples/tts_remote_example.py --url http://127.0.0.1:8880 "안녕하세요, 초코예요!"
    (default URL: $TTS_REMOTE_URL; key: --api-key or $TTS_REMOTE_API_KEY; out: speech.wav)

Any server that speaks the remote TTS contract works: ``python -m aischoco tts-server`` (second PC
or Colab), ``mac_tts_server`` (Apple Silicon), mlx-audio's own server, or vLLM-Omni
(``--clone ref.wav --clone-text ref_text.txt`` sends the voice reference with every request, as
vLLM-Omni's ``Base`` task wants). No server at hand? ``python tests/peers/speech_server.py --port 8880``
answers with a test tone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from aischoco.core.stages import StageError
from aischoco.tts.remote_engine import CloneReference, RemoteEngine


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="원격 TTS로 한 문장 말하기 — remote TTS example")
    parser.add_argument("text", nargs="?", default="안녕하세요! 오늘도 방송에 와 주셔서 고마워요.")
    parser.add_argument("--url", default=os.environ.get("TTS_REMOTE_URL"))
    parser.add_argument("--api-key", default=os.environ.get("TTS_REMOTE_API_KEY"))
    parser.add_argument("--model", default="qwen3-tts", help="what the server calls its model")
    parser.add_argument("--language", default="Korean")
    parser.add_argument("--out", type=Path, default=Path("speech.wav"))
    parser.add_argument("--clone", type=Path, help="reference WAV to send (vLLM-Omni Base)")
    parser.add_argument("--clone-text", type=Path, help="its transcript (UTF-8 text file)")
    return parser.parse_args()


async def main() -> int:
    args = parse_args()
    if not args.url:
        print("TTS 서버 주소가 필요합니다: --url http://주소:포트 또는 TTS_REMOTE_URL")
        return 2
    clone = None
    if args.clone:
        if not args.clone_text:
            print("--clone에는 --clone-text(녹음 대본)도 필요합니다")
            return 2
        clone = CloneReference.from_wav(args.clone, args.clone_text.read_text(encoding="utf-8"))
    engine = RemoteEngine(args.url, model=args.model, language=args.language,
                          api_key=args.api_key, clone=clone)
    pieces: list[bytes] = []
    rate = 0
    started = time.perf_counter()
    first_s: float | None = None
    try:
        async for chunk in engine.synthesize(args.text):
            first_s = first_s if first_s is not None else time.perf_counter() - started
            pieces.append(chunk.pcm)
            rate = chunk.sample_rate
    except StageError as exc:
        print(f"실패 — failed: {exc}")
        return 1
    finally:
        await engine.aclose()
    total_s = time.perf_counter() - started
    if not pieces or first_s is None:
        print("서버가 소리를 보내지 않았습니다 — the server sent no audio")
        return 1
    samples = np.frombuffer(b"".join(pieces), dtype="<i2")
    sf.write(args.out, samples, rate, subtype="PCM_16")
    audio_s = len(samples) / rate
    print(f"{args.out}: {audio_s:.2f} s of audio at {rate} Hz in {len(pieces)} chunks")
    print(f"first audio after {first_s * 1000:.0f} ms, whole answer {total_s * 1000:.0f} ms "
          f"({audio_s / total_s:.1f}x real time)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
