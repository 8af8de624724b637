"""Benchmark: VOICE_TURN_DETECTION=smart (the smart-turn v3.2 model) against silence, in one run.

1. The model on espeak-ng speech (offline, real Silero + the utterance detector + the model, frames
   back to back, checks inline): for finished and unfinished Korean and English utterances, the
   model's probability at the first check (~200 ms of silence after the speech, as the daemon asks
   it), and the features + inference time on one thread.
2. Cut-in rate: an unfinished sentence, a pause of --pauses seconds, then the rest of it. A cut-in
   is the first part ending as an utterance of its own (the character would answer half a
   sentence). Same audio through `silence` (VOICE_END_SILENCE_MS=600) and `smart`.
3. The daemon, built by `app.build` as bench_voice.py does (same peers: STT 200 ms, LLM first
   token 300 ms at 500 tokens/s, TTS first byte 100 ms), once per mode over the same mic track of
   --turns finished Korean sentences (+2 warm-up), 4 s apart: end_of_turn (speech_end → turn_end)
   and voice_to_voice (speech_end → the AI's first sound) p50/p95, and at real time the VAD's CPU
   (the listener's vad_cpu_s) and the model's (the judge thread's CPU) per second of audio.
4. The VAD's own CPU at real time, before and after issue 35's change (the general Silero file
   + a numpy level chain vs the 16 kHz sequence file + one dot product), interleaved rounds.
   (Printed before part 3, which takes a few minutes.)

Needs espeak-ng, onnxruntime, the Silero model and the smart-turn model
(pip install -r requirements-voice.txt; pip install --no-deps silero-vad==6.2.3 pipecat-ai==1.14.0).
Run:  python bench/bench_turn_end.py [--turns 20] [--pauses 0.3,0.5,0.8,1.2] [--vad-seconds 20]
                                     [--skip-daemon]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_voice as bv  # noqa: E402  (puts tests/ on sys.path too)
import numpy as np  # noqa: E402
from voice_fixtures.speech import mix, speech_16k, trim, write_wav  # noqa: E402

from aischoco.core.metrics import percentile  # noqa: E402
from aischoco.core.segmenter import segment  # noqa: E402
from aischoco.compose.wiring import segmenter_config  # noqa: E402
from aischoco.listen.listener import ListenerConfig, ListenerStats, VadWorker  # noqa: E402
from aischoco.listen.turn_end import FINISHED_AT, SmartTurnModel, TurnEndJudge  # noqa: E402
from aischoco.listen.utterances import Utterance, UtteranceDetector, VadConfig  # noqa: E402
from aischoco.listen.vad import FRAME, SileroVad  # noqa: E402

SILENCE_VAD = VadConfig(end_silence_ms=600, min_speech_ms=250, pad_ms=200,
                        end_lag_ms=SileroVad.END_LAG_MS)
SMART_VAD = ListenerConfig(vad=SILENCE_VAD, turn_detection="smart").smart_vad()

# (voice, text, finished?) — "finished" is what a person would say of the words alone.
CASES = [
    ("ko", "초코야 오늘 저녁 뭐 먹을까?", True),
    ("ko", "오늘 방송 재미있었어요.", True),
    ("ko", "초코야 좋아하는 음식이 뭐야?", True),
    ("ko", "다음 판에서는 꼭 이길 거예요.", True),
    ("ko", "이 아이템은 어디에 쓰는 거야?", True),
    ("ko", "그래서 어제 그 게임에서", False),
    ("ko", "내일은 친구랑 같이", False),
    ("ko", "초코야 오늘 저녁에는", False),
    ("ko", "그러니까 내 말은", False),
    ("ko", "아니 근데 그 보스가", False),
    ("en", "What should we eat for dinner tonight?", True),
    ("en", "That was a really fun stream.", True),
    ("en", "Can you sing a song for us?", True),
    ("en", "I think we should probably go to the", False),
    ("en", "So yesterday in that game I", False),
    ("en", "And then we could maybe", False),
]
# An unfinished start, then (after a pause) its rest.
CUT_INS = [
    ("ko", "그래서 어제 그 게임에서", "보스를 한 번에 잡았어."),
    ("ko", "내일은 친구랑 같이", "게임 방송을 할 거예요."),
    ("ko", "그러니까 내 말은", "오늘은 일찍 끝내자는 거야."),
    ("ko", "아니 근데 그 보스가", "너무 어려웠잖아."),
    ("ko", "초코야 오늘 저녁에는", "치킨 먹을까?"),
    ("en", "I think we should probably go to the", "shop after the stream."),
    ("en", "So yesterday in that game I", "finally beat the boss."),
    ("en", "And then we could maybe", "play one more round."),
]


def _speech(voice: str, text: str) -> np.ndarray:
    return trim(speech_16k(text, voice=voice))[0]


class _Recording:
    """A judge that keeps every probability it gave."""

    def __init__(self, judge: TurnEndJudge) -> None:
        self._judge = judge
        self.probabilities: list[float] = []

    def judge(self, check: int, audio: np.ndarray):  # type: ignore[no-untyped-def]
        verdict = self._judge.judge(check, audio)
        self.probabilities.append(verdict.probability)
        return verdict


class _Run:
    """Silero + detector (+ the model inline) over one track, frames back to back."""

    def __init__(self, vad: SileroVad, config: VadConfig, judge: TurnEndJudge | None) -> None:
        self.posted: list[object] = []
        self.stats = ListenerStats()
        self._recording = _Recording(judge) if judge is not None else None
        self._worker = VadWorker(vad, UtteranceDetector(config), in_rate=16000,
                                 post=self.posted.extend, barge_in_min_s=0.3, gate=None,
                                 stats=self.stats, lossless=True,
                                 judge=self._recording,  # type: ignore[arg-type]
                                 inline_checks=True)
        self._vad = vad

    @property
    def probabilities(self) -> list[float]:
        return self._recording.probabilities if self._recording else []

    def run(self, audio: np.ndarray) -> list[Utterance]:
        self._vad.reset()
        for i in range(0, audio.size - FRAME + 1, FRAME):
            self._worker.feed(audio[i:i + FRAME], i / 16000)
        self._worker.close()
        self._worker.run()
        return [e for e in self.posted if isinstance(e, Utterance)]


def _model_table(vad: SileroVad, judge: TurnEndJudge) -> tuple[list[float], list[float]]:
    print("## 1. The model on espeak-ng speech (probability of 'finished' at the first check, "
          f"~200 ms of silence; the turn is taken at >= {FINISHED_AT})")
    print("| voice | words | should be | P(finished) | verdict | turn taken after the speech "
          "(smart / silence) |")
    print("|---|---|---|---|---|---|")
    wall, cpu = [], []
    right = {("ko", True): [0, 0], ("ko", False): [0, 0], ("en", True): [0, 0],
             ("en", False): [0, 0]}
    for voice, text, finished in CASES:
        track = mix([0.6, _speech(voice, text), 2.6], noise_db=-45)
        smart = _Run(vad, SMART_VAD, judge)
        [u_smart] = smart.run(track.audio)
        [u_silence] = _Run(vad, SILENCE_VAD, None).run(track.audio)
        p = smart.probabilities[0]
        wall += list(smart.stats.turn_wall_ms)
        cpu.append(smart.stats.turn_cpu_s * 1000 / max(smart.stats.turn_checks, 1))
        said = p >= FINISHED_AT
        right[(voice, finished)][0] += said == finished
        right[(voice, finished)][1] += 1
        wait = lambda u: (u.decided_at - u.ended_at) * 1000  # noqa: E731
        print(f"| {voice} | {text} | {'finished' if finished else 'unfinished'} | {p:.2f} | "
              f"{'finished' if said else 'not yet'}{'' if said == finished else ' ✗'} | "
              f"{wait(u_smart):.0f} / {wait(u_silence):.0f} ms |")
    print("right: " + ", ".join(f"{v} {'finished' if f else 'unfinished'} {a}/{n}"
                                for (v, f), (a, n) in right.items()))
    return wall, cpu


def _cut_ins(vad: SileroVad, judge: TurnEndJudge, pauses: list[float]) -> None:
    print()
    print("## 2. Cut-in rate: an unfinished start, a pause, the rest "
          "(cut-in = the start became an utterance of its own)")
    print("| pause | silence (600 ms) | smart |")
    print("|---|---|---|")
    for pause in pauses:
        counts = {"silence": 0, "smart": 0}
        for voice, start, rest in CUT_INS:
            track = mix([0.6, _speech(voice, start), pause, _speech(voice, rest), 2.6],
                        noise_db=-45)
            first_end = track.utterances[0][1]
            for mode, config, j in (("silence", SILENCE_VAD, None), ("smart", SMART_VAD, judge)):
                utterances = _Run(vad, config, j).run(track.audio)
                # Cut in: an utterance decided before the rest began.
                if any(u.decided_at < track.utterances[1][0] and u.ended_at <= first_end + 0.3
                       for u in utterances):
                    counts[mode] += 1
        n = len(CUT_INS)
        print(f"| {pause:.1f} s | {counts['silence']}/{n} | {counts['smart']}/{n} |")


def _vad_ab(seconds: float, rounds: int) -> None:
    """Item 3 of issue 35: the VAD thread's own CPU at real time (a frame every 32 ms, as from a
    microphone), before and after: the general silero_vad.onnx + the level meter as numpy's
    square/mean/sqrt/log10 chain, against the 16 kHz sequence file + one dot product. Same
    frames, interleaved rounds, time.thread_time() around the work of one frame."""
    import math

    from aischoco.listen.vad import packaged_model_path

    print()
    print(f"## 4. VAD CPU at real time, before / after ({rounds} interleaved rounds of "
          f"{seconds:.0f} s each, one frame every 32 ms)")
    track = mix([1.0, _speech("ko", "안녕하세요 여러분, 오늘 방송에 와 주셔서 감사합니다."), 1.0,
                 _speech("ko", "초코야 오늘 저녁 뭐 먹을까?"), 1.5], noise_db=-45).audio
    frames = [track[i:i + FRAME] for i in range(0, track.size - FRAME + 1, FRAME)]

    def old_level(chunk: np.ndarray) -> float:
        rms = float(np.sqrt(np.mean(np.square(chunk, dtype=np.float32))))
        return round(20 * np.log10(max(rms, 1e-5)), 1)

    def new_level(chunk: np.ndarray) -> float:
        return round(10 * math.log10(max(float(np.dot(chunk, chunk)) / chunk.size, 1e-10)), 1)

    variants = {"before: silero_vad.onnx + numpy level": (packaged_model_path(), old_level),
                "after: 16k sequence file + dot level": (None, new_level)}
    results: dict[str, list[float]] = {name: [] for name in variants}
    parts: dict[str, list[float]] = {}
    for _ in range(rounds):
        for name, (path, level) in variants.items():
            vad = SileroVad.load(path)
            detector = UtteranceDetector(SILENCE_VAD)
            n = int(seconds / 0.032)
            cpu = model_cpu = 0.0
            due = time.monotonic()
            for i in range(n):
                due += 0.032
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                chunk = frames[i % len(frames)]
                t0 = time.thread_time()
                level(chunk)
                t1 = time.thread_time()
                prob = vad.probability(chunk)
                t2 = time.thread_time()
                detector.push(chunk, prob, i * 0.032)
                cpu += time.thread_time() - t0
                model_cpu += t2 - t1
            results[name].append(100 * cpu / (n * 0.032))
            parts.setdefault(name, []).append(1000 * model_cpu / n)
    print("| variant | % of one core, per round | median | Silero ms per frame (median) |")
    print("|---|---|---|---|")
    for name, values in results.items():
        print(f"| {name} | {', '.join(f'{v:.2f}' for v in values)} | "
              f"{statistics.median(values):.2f} % | {statistics.median(parts[name]):.3f} |")


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return percentile(ordered, q) if ordered else float("nan")


async def _daemon(args: argparse.Namespace, tmp: Path) -> None:
    answer = {"emotion": "happy", "response": bv.ANSWERS["short"]}
    content = json.dumps(answer, ensure_ascii=False)
    pieces = bv.token_pieces(content)
    n_turns = args.turns + bv.WARMUP_TURNS
    said = [bv.SENTENCES[i % len(bv.SENTENCES)] for i in range(n_turns)]
    track = bv._track(said, 1.0, 4.0)
    mic = write_wav(tmp / "mic.wav", track.audio)
    llm_options = {"answer": answer, "pieces": pieces, "ttft_ms": 300.0, "tokens_per_s": 500.0}
    results: dict[str, dict[str, object]] = {}
    for mode in ("silence", "smart"):
        probe = bv.Probe()
        with bv._peer("llm", **llm_options) as llm, \
                bv._peer("tts", first_byte_ms=100.0, ms_per_char=2) as tts, \
                bv._peer("stt", default="초코야 안녕", texts=said, delay_ms=200.0) as stt:
            settings = bv._settings(tmp, mic, llm.url, tts.url, stt.url, f"{mode}-latency")
            settings = settings.model_copy(update={"voice_turn_detection": mode})
            first = segment(answer["response"], segmenter_config(settings))[0]
            upto = content.index(first) + len(first)
            first_tokens = next(i + 1 for i in range(len(pieces))
                                if len("".join(pieces[: i + 1])) >= upto)
            fakes = {"stt": 200.0, "tts": 100.0, "llm": 300.0 + first_tokens / 500.0 * 1000}
            await bv._run_daemon(settings, probe, lambda c, b, p: bv._latency_drive(
                c, b, p, expected=n_turns, timeout_s=track.duration_s + 30))
            offset = bv._perf_minus_mono()
        rows = bv._latency_rows(probe, track, fakes, offset,
                                {"llm": llm.records, "tts": tts.records, "stt": stt.records},
                                first_tokens)
        assert probe.listener is not None
        results[mode] = {"values": rows["values"], "stats": probe.listener.stats,
                         "snapshot": probe.listener.snapshot(), "unmatched": rows["unmatched"],
                         "skipped": rows["skipped"], "cpu": bv._cpu_line(probe)}
    print()
    print(f"## 3. The daemon at real time: {args.turns} finished Korean sentences "
          f"(+{bv.WARMUP_TURNS} warm-up), 4 s apart; fakes STT 200 / LLM {fakes['llm']:.0f} / "
          "TTS 100 ms")
    print("| mode | end_of_turn p50 | p95 | voice_to_voice p50 | p95 | turns | model checks "
          "(finished / not yet / stale) | VAD CPU % of a core | model CPU % of a core |")
    print("|---|---|---|---|---|---|---|---|---|")
    for mode, r in results.items():
        values = r["values"]  # type: ignore[assignment]
        s: ListenerStats = r["stats"]  # type: ignore[assignment]
        audio_s = s.vad_frames * bv.FRAME_S
        eot, v2v = values.get("end_of_turn", []), values.get("voice_to_voice", [])  # type: ignore[union-attr]
        print(f"| {mode} | {_p(eot, 50):.0f} ms | {_p(eot, 95):.0f} ms | {_p(v2v, 50):.0f} ms | "
              f"{_p(v2v, 95):.0f} ms | {len(eot)} | {s.turn_checks} ({s.turn_finished} / "
              f"{s.turn_not_finished} / {s.turn_stale}) | {100 * s.vad_cpu_s / audio_s:.2f} % | "
              f"{100 * s.turn_cpu_s / audio_s:.3f} % |")
    for mode, r in results.items():
        s = r["stats"]  # type: ignore[assignment]
        walls = list(s.turn_wall_ms)
        extra = (f"; model check wall p50 {_p(walls, 50):.1f} / p95 {_p(walls, 95):.1f} ms"
                 if walls else "")
        print(f"{mode}: unmatched {r['unmatched']}, not counted {r['skipped']}, utterances "
              f"{s.utterances}, voice turns {s.turns}{extra}; {r['cpu']}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--pauses", default="0.3,0.5,0.8,1.2")
    parser.add_argument("--skip-daemon", action="store_true")
    parser.add_argument("--vad-seconds", type=float, default=20.0,
                        help="length of each real-time VAD round (0: skip part 4)")
    args = parser.parse_args()
    missing = [n for n in ("onnxruntime", "silero_vad", "pipecat")
               if importlib.util.find_spec(n) is None]
    problem = bv.espeak_problem() or (f"not installed: {', '.join(missing)}" if missing else None)
    if problem is not None:
        print(f"skipped: {problem}")
        return 0
    logging.basicConfig(level=logging.WARNING)
    started = time.monotonic()
    print(f"machine: {bv._machine()}")
    vad = SileroVad.load()
    model = SmartTurnModel.load()
    judge = TurnEndJudge(model)
    print(f"VAD model {vad.model_name}; smart-turn check after {SMART_VAD.check_after_ms} ms of "
          f"silence, cap {SMART_VAD.end_after_ms} ms; silence mode {SILENCE_VAD.end_silence_ms} ms")
    print()
    wall, cpu = _model_table(vad, judge)
    window = np.zeros(8 * 16000, np.float32)
    window[-16000 * 3:] = np.tile(_speech("ko", "오늘 방송 재미있었어요."), 3)[:16000 * 3]
    for _ in range(20):
        verdict = judge.judge(0, window)
        wall.append(verdict.wall_ms)
        cpu.append(verdict.cpu_ms)
    print(f"features + inference on one thread: wall p50 {statistics.median(wall):.1f} / p95 "
          f"{_p(wall, 95):.1f} ms, CPU p50 {statistics.median(cpu):.1f} ms "
          f"({len(wall)} checks)")
    _cut_ins(vad, judge, [float(p) for p in args.pauses.split(",")])
    judge.close()
    if args.vad_seconds > 0:
        _vad_ab(args.vad_seconds, rounds=3)
    if not args.skip_daemon:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(_daemon(args, Path(tmp)))
    print(f"(bench wall time {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
