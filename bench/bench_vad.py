"""Benchmark: CPU cost of voice activity detection per second of microphone audio.

    ~60 s track: Korean espeak-ng sentences with 1–2 s pauses, -45 dBFS pink noise throughout
    (tests/voice_fixtures/speech.py) ─► 512-sample frames ─► SileroVad.probability (ONNX, 1 thread)
    ─► UtteranceDetector.push

This is the work of the capture worker thread, minus the capture itself. Figures:
  * ms per frame (32 ms of audio), p50/p95/max of time.process_time(), per stage and both
  * CPU % of one core = total CPU time / audio duration (target < 2 %)
  * utterances found vs sentences in the track (a sanity check, not a quality measure)

Needs espeak-ng (apt-get install espeak-ng) and the model (pip install --no-deps silero-vad==6.2.3).
Run:  python bench/bench_vad.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import itertools
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import onnxruntime  # noqa: E402
from voice_fixtures.speech import MixedAudio, espeak_problem, mix, speech_16k, trim  # noqa: E402

from aischoco.listen.utterances import Utterance, UtteranceDetector, VadConfig  # noqa: E402
from aischoco.listen.vad import FRAME, SAMPLE_RATE, SileroVad  # noqa: E402

SENTENCES = ["안녕하세요 여러분, 오늘 방송에 와 주셔서 감사합니다.", "초코야, 오늘 저녁 뭐 먹을까?",
             "내일은 게임 방송을 할 거예요.", "구독이랑 좋아요 부탁드려요!", "채팅 하나하나 다 읽고 있어요."]
PAUSES = [1.0, 1.5, 2.0, 1.2]
TARGET_CPU_PCT = 2.0
WARMUP_FRAMES = 20


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _track(seconds: float) -> MixedAudio:
    parts: list[float | str] = [1.0]
    length = 1.0
    for text, pause in zip(itertools.cycle(SENTENCES), itertools.cycle(PAUSES)):
        if length >= seconds:
            break
        parts += [text, pause]
        length += trim(speech_16k(text))[0].size / SAMPLE_RATE + pause
    return mix(parts)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    problem = espeak_problem()
    if problem is not None:
        print(f"SKIP: {problem}")
        return 0
    track = _track(args.seconds)
    audio, sentences = track.audio, len(track.utterances)
    vad = SileroVad.load()
    detector = UtteranceDetector(VadConfig())
    clock = time.process_time
    model_ms: list[float] = []
    detector_ms: list[float] = []
    found = 0
    total_start = clock()
    for n, i in enumerate(range(0, audio.size - FRAME + 1, FRAME)):
        frame = audio[i:i + FRAME]
        t0 = clock()
        prob = vad.probability(frame)
        t1 = clock()
        events = detector.push(frame, prob, i / SAMPLE_RATE)
        t2 = clock()
        found += sum(isinstance(e, Utterance) for e in events)
        if n >= WARMUP_FRAMES:  # the first runs include onnxruntime's lazy setup
            model_ms.append((t1 - t0) * 1000)
            detector_ms.append((t2 - t1) * 1000)
    total_cpu = clock() - total_start
    found += sum(isinstance(e, Utterance) for e in detector.flush(audio.size / SAMPLE_RATE))
    audio_s = audio.size / SAMPLE_RATE
    frames = audio.size // FRAME
    both_ms = [a + b for a, b in zip(model_ms, detector_ms)]
    cpu_pct = total_cpu / audio_s * 100

    print(f"VAD on {audio_s:.1f} s of audio ({frames} frames of {FRAME} samples = "
          f"{FRAME / SAMPLE_RATE * 1000:.0f} ms), {sentences} sentences, -45 dBFS pink noise; "
          f"onnxruntime {onnxruntime.__version__}, 1 thread; "
          f"Python {platform.python_version()} on {platform.machine()}")
    print(f"| {'stage (process_time per frame)':<32} | p50 ms | p95 ms | max ms |")
    print(f"|{'-' * 34}|--------|--------|--------|")
    for name, values in (("SileroVad.probability", model_ms),
                         ("UtteranceDetector.push", detector_ms), ("both", both_ms)):
        print(f"| {name:<32} | {statistics.median(values):6.3f} | {_pct(values, 0.95):6.3f} | "
              f"{max(values):6.3f} |")
    print(f"total CPU {total_cpu:.2f} s for {audio_s:.1f} s of audio = {cpu_pct:.2f} % of one core "
          f"(all {frames} frames, warm-up included)")
    print(f"utterances found: {found} of {sentences} sentences")
    verdict = "PASS" if cpu_pct < TARGET_CPU_PCT else "FAIL"
    print(f"{verdict}: CPU {cpu_pct:.2f} % of one core (target < {TARGET_CPU_PCT:.0f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
