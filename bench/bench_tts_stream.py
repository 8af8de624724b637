"""Streaming vs whole-sentence Qwen3-TTS: time to first audio, real-time factor, join error.

    python bench/bench_tts_stream.py                       # tiny random model, CPU (seconds)
    python bench/bench_tts_stream.py --random-full-size 0.6B --device cuda
    python bench/bench_tts_stream.py --model DIR --device cuda --compile cudagraphs

Sentences of 10, 40 and 120 Korean characters. Random weights stop at random points, so every
sentence is forced to a realistic length (7 characters per second → frames) by masking the codec
EOS logit; real and random weights then cost the same per frame.
TTFA = from the call to the first emitted chunk (tokenizing included). RTF = synthesis time /
audio length. Join error = max |streamed − full decode| over the sentence (same codes).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from aischoco.tts.qwen_engine import WholeSentenceProducer
from aischoco.tts.qwen_stream import StreamConfig, StreamingProducer, apply_speedups

SENTENCE = "오늘 방송에 와 주셔서 정말 고마워요 여러분 덕분에 힘이 나요 "
CHARS_PER_S = 7.0  # brisk Korean speech
SPF = 1920


def text_of(chars: int) -> str:
    return (SENTENCE * (chars // len(SENTENCE) + 1))[:chars].strip() or "안녕"


def frames_for(chars: int) -> int:
    return math.ceil(12.5 * chars / CHARS_PER_S)


def load(args: argparse.Namespace, work: Path) -> tuple[Any, Any, str]:
    from tts_fixtures.tiny_qwen import FULL, TINY, build_tiny_checkpoint, write_reference_voice

    from aischoco.tts.qwen_loader import load_model
    from aischoco.tts.voice_sample import load_reference

    model = args.model
    if model is None:
        arch = FULL[args.random_full_size] if args.random_full_size else TINY
        print(f"building a random {args.random_full_size or 'tiny'} checkpoint …", flush=True)
        model = str(build_tiny_checkpoint(work / "model", arch=arch))
    loaded = load_model(model, args.device, work / "hf", "Korean")
    tts = loaded.tts
    speedups = apply_speedups(tts, loaded.device.device, static_cache=args.static_cache,
                              compile_mode=args.compile)
    reference = load_reference(*write_reference_voice(work / "voice"))
    if args.voice:
        reference = load_reference(Path(args.voice), Path(args.voice).with_suffix(".txt"))
    prompt = tts.create_voice_clone_prompt(ref_audio=(reference.samples, reference.sample_rate),
                                           ref_text=reference.text)
    eos = tts.model.config.talker_config.codec_eos_token_id

    def never_stop(_module: Any, _args: Any, output: Any) -> None:
        output.logits[..., eos] = float("-inf")  # generate samples from these logits next

    tts.model.talker.register_forward_hook(never_stop)
    label = (f"{Path(model).name if args.model else args.random_full_size or 'tiny'} · "
             f"{loaded.device.device} · {loaded.precision.dtype}"
             + (f" · {'+'.join(speedups)}" if speedups else ""))
    return tts, prompt, label


def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def run_once(producer: Any, text: str, device: str) -> tuple[float, float, list[np.ndarray]]:
    chunks: list[np.ndarray] = []
    first: list[float] = []
    sync(device)
    started = time.perf_counter()

    def emit(audio: np.ndarray, _rate: int) -> None:
        first.append(first[0] if first else time.perf_counter() - started)
        chunks.append(audio)

    producer.produce(text, emit, threading.Event())
    sync(device)
    return first[0], time.perf_counter() - started, chunks


def bench(args: argparse.Namespace) -> None:
    import torch

    if args.device == "cpu":
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tts, prompt, label = load(args, Path(tmp))
        device = str(tts.device)
        first, chunk = (int(x) for x in args.chunks.split(":"))
        rows = []
        for chars in args.lengths:
            text, budget = text_of(chars), frames_for(chars) + 1
            codes: list[Any] = []
            stream = StreamingProducer(tts, prompt, "Korean", seed=1, max_new_tokens=budget,
                                       options={}, on_codes=codes.append,
                                       config=StreamConfig(chunk, first, args.context))
            whole = WholeSentenceProducer(tts, prompt, "Korean", seed=1, max_new_tokens=budget,
                                          options={})
            run_once(stream, text, device)  # warm-up (allocator, kernels, graphs)
            ttfa_s, total_s, ttfa_w, total_w, error = [], [], [], [], 0.0
            for _ in range(args.repeats):
                codes.clear()
                t1, t2, chunks = run_once(stream, text, device)
                _, w2, wav = run_once(whole, text, device)
                joined, full = np.concatenate(chunks), wav[0]
                full = full[full.size - joined.size:]  # whole path may keep 1 reference sample
                error = max(error, float(np.abs(joined - full).max()))
                ttfa_s.append(t1), total_s.append(t2), ttfa_w.append(w2), total_w.append(w2)
            audio_s = len(codes[0]) * SPF / 24_000
            rows.append((chars, len(codes[0]), float(np.median(ttfa_s)), float(np.median(ttfa_w)),
                         float(np.median(total_s)) / audio_s, float(np.median(total_w)) / audio_s,
                         error))
    print(f"\n{label} · first {first} / chunk {chunk} / context {args.context} frames · "
          f"median of {args.repeats}\n")
    print("| 글자 수 chars | 프레임 frames | 첫 소리 TTFA 스트리밍 | 첫 소리 문장 단위 | RTF 스트리밍 | "
          "RTF 문장 단위 | 이음새 오차 join error |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for chars, frames, t1, tw, r1, rw, err in rows:
        print(f"| {chars} | {frames} | {t1 * 1000:.0f} ms | {tw * 1000:.0f} ms | {r1:.2f} | "
              f"{rw:.2f} | {err:.1e} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="a real Qwen3-TTS *-Base folder (offline)")
    parser.add_argument("--random-full-size", choices=("0.6B", "1.7B"),
                        help="the released architecture with random weights (same cost)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    parser.add_argument("--voice", help="reference WAV (transcript next to it as .txt)")
    parser.add_argument("--chunks", default="2:4", help="first:chunk frames (default 2:4)")
    parser.add_argument("--context", type=int, default=25, help="left context frames")
    parser.add_argument("--lengths", type=int, nargs="+", default=[10, 40, 120])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--static-cache", action="store_true", help="CUDA only")
    parser.add_argument("--compile", default="off", choices=("off", "compile", "cudagraphs"))
    bench(parser.parse_args())


if __name__ == "__main__":
    main()
