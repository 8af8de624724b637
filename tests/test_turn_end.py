"""VOICE_TURN_DETECTION=smart: the turn-end model's features (against transformers' Whisper feature
extractor), the detector's EndCheck / finish / cap rules with scripted probabilities, the VAD
worker asking a judge on and off its thread, the real smart-turn v3.2 model on espeak-ng speech,
and the listener falling back to silence (with the reason in its status row) without the model."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from aischoco.core.status import State, StatusBoard
from aischoco.listen import turn_end as turn_end_module
from aischoco.listen.barge_in import BargeIn
from aischoco.listen.listener import ListenerConfig, ListenerStats, VadWorker, VoiceListener
from aischoco.listen.turn_end import (TurnEndJudge, TurnEndUnavailable, is_finished, log_mel,
                                      model_window)
from aischoco.listen.utterances import (EndCheck, SpeechDiscarded, Utterance, UtteranceDetector,
                                        VadConfig)

N = 512
T = N / 16000
SPEECH, SILENCE = 0.9, 0.05
# 6 frames (192 ms) of silence → a check; 20 frames (640 ms) → the cap; unconfirmed speech is
# dropped after 10 frames (320 ms).
SMART = VadConfig(min_speech_ms=96, end_silence_ms=320, pad_ms=0, check_after_ms=192, cap_ms=640)


def feed(det: UtteranceDetector, probs: list[float], first: int = 0) -> list[tuple[int, object]]:
    return [(i, e) for i, p in enumerate(probs, first)
            for e in det.push(np.full(N, i, np.float32), p, i * T)]


# --- features ------------------------------------------------------------------------------

def test_model_window_keeps_the_last_8_seconds_and_pads_in_front() -> None:
    short = np.arange(16000, dtype=np.float32)
    window = model_window(short)
    assert window.shape == (128000,) and not window[:-16000].any()
    assert np.array_equal(window[-16000:], short)
    long = np.arange(200000, dtype=np.float32)
    assert np.array_equal(model_window(long), long[-128000:])


@pytest.mark.parametrize("kind", ["noise", "tone", "quiet"])
def test_log_mel_matches_transformers_whisper_features(kind: str) -> None:
    transformers = pytest.importorskip("transformers")
    rng = np.random.default_rng(3)
    n = 70000
    audio = {"noise": rng.standard_normal(n) * 0.1,
             "tone": 0.3 * np.sin(2 * np.pi * 220 * np.arange(n) / 16000),
             "quiet": rng.standard_normal(n) * 1e-4}[kind].astype(np.float32)
    window = model_window(audio)
    extractor = transformers.WhisperFeatureExtractor(chunk_length=8)
    expected = extractor(window, sampling_rate=16000, padding="max_length", max_length=128000,
                         truncation=True, do_normalize=True,
                         return_tensors="np").input_features[0]
    ours = log_mel(window)
    assert ours.shape == expected.shape == (80, 800) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, expected, atol=2e-4)


def test_log_mel_wants_a_full_window() -> None:
    with pytest.raises(ValueError, match="128000"):
        log_mel(np.zeros(1000, np.float32))


def test_the_decision_threshold() -> None:
    assert is_finished(0.5) and is_finished(0.97) and not is_finished(0.49)


# --- the detector's check -----------------------------------------------------------------

def test_a_check_after_a_short_silence_and_finish_ends_the_turn_at_once() -> None:
    det = UtteranceDetector(SMART)
    events = feed(det, [SILENCE] * 3 + [SPEECH] * 10 + [SILENCE] * 8)
    checks = [(i, e) for i, e in events if isinstance(e, EndCheck)]
    [(i, check)] = checks
    assert i == 13 + 6 - 1 and check.at == pytest.approx((i + 1) * T)
    # The check hears the utterance so far: its 10 speech frames and the silence after them.
    assert check.audio[0] == 3 and check.audio[-1] == i
    assert not any(isinstance(e, Utterance) for _, e in events)
    [utterance] = det.finish(check.check, at=check.at + 0.05)
    assert isinstance(utterance, Utterance)
    assert utterance.decided_at == pytest.approx(max(check.at + 0.05, 21 * T))
    assert utterance.ended_at == pytest.approx(13 * T)
    assert not det.in_speech and det.finish(check.check, 1.0) == []  # answered once


def test_not_finished_keeps_listening_until_the_cap() -> None:
    det = UtteranceDetector(SMART)
    events = feed(det, [SPEECH] * 10 + [SILENCE] * 30)
    assert len([e for _, e in events if isinstance(e, EndCheck)]) == 1  # one per silence
    [(i, utterance)] = [(i, e) for i, e in events if isinstance(e, Utterance)]
    assert i == 10 + 20 - 1 and utterance.decided_at == pytest.approx(30 * T)


def test_speech_after_the_check_makes_its_verdict_stale_and_the_next_pause_is_checked() -> None:
    det = UtteranceDetector(SMART)
    first = feed(det, [SPEECH] * 10 + [SILENCE] * 7 + [SPEECH] * 5)
    [stale] = [e for _, e in first if isinstance(e, EndCheck)]
    assert det.finish(stale.check, 22 * T) == []  # they went on talking: one utterance still
    assert det.in_speech
    second = feed(det, [SILENCE] * 6, first=22)
    [check] = [e for _, e in second if isinstance(e, EndCheck)]
    assert check.check != stale.check
    [utterance] = det.finish(check.check, 28 * T)
    assert isinstance(utterance, Utterance) and utterance.ended_at == pytest.approx(22 * T)


def test_unconfirmed_sound_is_dropped_at_end_silence_without_a_check() -> None:
    det = UtteranceDetector(SMART)
    events = feed(det, [SPEECH] * 2 + [SILENCE] * 12)  # 64 ms < min_speech_ms
    assert not any(isinstance(e, EndCheck) for _, e in events)
    [(i, dropped)] = [(i, e) for i, e in events if isinstance(e, SpeechDiscarded)]
    assert i == 2 + 10 - 1


def test_reset_makes_a_pending_verdict_stale() -> None:
    det = UtteranceDetector(SMART)
    [check] = [e for _, e in feed(det, [SPEECH] * 10 + [SILENCE] * 6) if isinstance(e, EndCheck)]
    det.reset()  # e.g. the echo gate: the AI's voice became audible
    assert det.finish(check.check, 1.0) == []


def test_silence_mode_asks_nothing() -> None:
    det = UtteranceDetector(VadConfig(min_speech_ms=96, end_silence_ms=320, pad_ms=0))
    events = feed(det, [SPEECH] * 10 + [SILENCE] * 12)
    assert not any(isinstance(e, EndCheck) for _, e in events)
    assert [i for i, e in events if isinstance(e, Utterance)] == [10 + 10 - 1]


def test_smart_config_rules() -> None:
    with pytest.raises(ValueError, match="check_after_ms"):
        VadConfig(end_silence_ms=600, pad_ms=200, check_after_ms=100, cap_ms=2000)  # < pad
    with pytest.raises(ValueError, match="check_after_ms"):
        VadConfig(end_silence_ms=600, pad_ms=0, check_after_ms=2000, cap_ms=2000)  # >= cap
    config = ListenerConfig(vad=VadConfig(end_silence_ms=3000, max_utterance_s=30),
                            turn_detection="smart").smart_vad()
    assert (config.check_after_ms, config.end_after_ms) == (200, 3000)  # cap >= END_SILENCE
    assert ListenerConfig().smart_vad().end_after_ms == 2000


# --- the worker and the judge --------------------------------------------------------------

class ScriptedVad:
    FRAME = 512

    def __init__(self, probs: list[float]) -> None:
        self.probs = list(probs)

    def probability(self, frame: np.ndarray) -> float:
        return self.probs.pop(0) if self.probs else 0.0

    def reset(self) -> None:
        pass


class FixedModel:
    """Stands in for SmartTurnModel: a fixed answer, the thread it ran on remembered."""

    def __init__(self, probability: float, delay_s: float = 0.0) -> None:
        self.answer = probability
        self.delay_s = delay_s
        self.threads: list[str] = []
        self.sizes: list[int] = []

    def probability(self, audio: np.ndarray) -> float:
        self.threads.append(threading.current_thread().name)
        self.sizes.append(audio.size)
        time.sleep(self.delay_s)
        return self.answer


def _worker(probs: list[float], judge: TurnEndJudge, *, inline: bool,
            stats: ListenerStats) -> tuple[VadWorker, list[object]]:
    posted: list[object] = []
    worker = VadWorker(ScriptedVad(probs), UtteranceDetector(SMART), in_rate=16000,
                       post=posted.extend, barge_in_min_s=0.3, gate=None, stats=stats,
                       judge=judge, inline_checks=inline)
    return worker, posted


@pytest.mark.parametrize("probability, finished", [(0.9, True), (0.1, False)])
def test_inline_verdicts(probability: float, finished: bool) -> None:
    model = FixedModel(probability)
    stats = ListenerStats()
    probs = [SILENCE] * 2 + [SPEECH] * 10 + [SILENCE] * 30
    worker, posted = _worker(probs, TurnEndJudge(model), inline=True, stats=stats)  # type: ignore[arg-type]
    for i in range(len(probs)):
        worker.feed(np.zeros(N, np.float32), 100.0 + i * T)
    worker.close()
    worker.run()
    [utterance] = [e for e in posted if isinstance(e, Utterance)]
    silence_start = 100.0 + 12 * T
    if finished:  # at the check (6 frames of silence) + the model's time
        assert utterance.decided_at == pytest.approx(silence_start + 6 * T, abs=0.02)
        assert (stats.turn_finished, stats.turn_not_finished) == (1, 0)
    else:  # at the cap (20 frames of silence)
        assert utterance.decided_at == pytest.approx(silence_start + 20 * T)
        assert (stats.turn_finished, stats.turn_not_finished) == (0, 1)
    assert stats.turn_checks == 1 and model.threads == [threading.current_thread().name]


def test_the_model_runs_on_its_own_thread_and_its_verdict_ends_the_turn() -> None:
    """Real time: the worker goes on with the audio while the judge thinks; the verdict comes
    back through the worker's queue and ends the utterance long before the cap."""
    model = FixedModel(0.95, delay_s=0.01)
    judge = TurnEndJudge(model)  # type: ignore[arg-type]
    stats = ListenerStats()
    probs = [SPEECH] * 10 + [SILENCE] * 40
    worker, posted = _worker(probs, judge, inline=False, stats=stats)
    thread = threading.Thread(target=worker.run)
    thread.start()
    start = time.monotonic()
    for i in range(len(probs)):
        worker.feed(np.zeros(N, np.float32), start + i * T)
        time.sleep(T / 2)  # twice real time: the cap would come 320 ms after the check
    worker.close()
    thread.join(5)
    judge.close()
    [utterance] = [e for e in posted if isinstance(e, Utterance)]
    assert model.threads == ["voice-turn-end"]
    assert stats.turn_finished == 1 and stats.turn_checks == 1
    assert utterance.decided_at < start + (10 + 20) * T  # before the cap's frame


def test_a_failing_model_leaves_the_cap_to_end_the_turn() -> None:
    class Broken:
        def probability(self, audio: np.ndarray) -> float:
            raise RuntimeError("onnx exploded")

    judge = TurnEndJudge(Broken())  # type: ignore[arg-type]
    stats = ListenerStats()
    probs = [SPEECH] * 10 + [SILENCE] * 30
    worker, posted = _worker(probs, judge, inline=False, stats=stats)
    thread = threading.Thread(target=worker.run)
    thread.start()
    for i in range(len(probs)):
        worker.feed(np.zeros(N, np.float32), i * T)
        time.sleep(0.002)
    worker.close()
    thread.join(5)
    judge.close()
    assert len([e for e in posted if isinstance(e, Utterance)]) == 1
    assert stats.turn_failed == 1 and stats.turn_finished == 0


# --- the real model ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def smart_model():
    pytest.importorskip("onnxruntime")
    try:
        return turn_end_module.SmartTurnModel.load()
    except TurnEndUnavailable as exc:
        pytest.skip(str(exc))


def _first_check_probability(model, voice: str, text: str) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(P(finished) at the detector's first check, seconds from the speech's end to the turn)
    through the real Silero VAD and the detector, as the daemon runs them."""
    from voice_fixtures.speech import mix, require_espeak, speech_16k, trim

    from aischoco.listen.vad import SileroVad

    require_espeak()
    vad = SileroVad.load()
    track = mix([0.6, trim(speech_16k(text, voice=voice))[0], 2.6], noise_db=-45)
    config = ListenerConfig(vad=VadConfig(end_lag_ms=SileroVad.END_LAG_MS),
                            turn_detection="smart").smart_vad()
    det = UtteranceDetector(config)
    judge = TurnEndJudge(model)
    probabilities: list[float] = []
    turn = None
    audio = track.audio
    for i in range(0, audio.size - N + 1, N):
        for event in det.push(audio[i:i + N], vad.probability(audio[i:i + N]), i / 16000):
            if isinstance(event, EndCheck):
                verdict = judge.judge(event.check, event.audio)
                probabilities.append(verdict.probability)
                if verdict.finished:
                    [turn] = det.finish(event.check, event.at)
            elif isinstance(event, Utterance):
                turn = event
    judge.close()
    assert probabilities and isinstance(turn, Utterance)
    return probabilities[0], turn.decided_at - track.utterances[0][1]


@pytest.mark.parametrize("voice, text", [("ko", "초코야 오늘 저녁 뭐 먹을까?"),
                                         ("ko", "오늘 방송 재미있었어요."),
                                         ("en", "What should we eat for dinner tonight?")])
def test_the_model_takes_a_finished_sentence_at_once(smart_model, voice: str, text: str) -> None:  # type: ignore[no-untyped-def]
    probability, waited = _first_check_probability(smart_model, voice, text)
    assert probability > 0.8
    assert waited < 0.5  # silence mode: 600 ms + Silero's tail ≈ 0.7 s


@pytest.mark.parametrize("voice, text", [("ko", "그러니까 내 말은"),
                                         ("en", "So yesterday in that game I")])
def test_the_model_waits_after_these_unfinished_words(smart_model, voice: str, text: str) -> None:  # type: ignore[no-untyped-def]
    """Measured on espeak-ng speech (bench/bench_turn_end.py): most unfinished Korean fragments
    are still rated finished by the model on synthetic speech (flat prosody); these are not."""
    probability, waited = _first_check_probability(smart_model, voice, text)
    assert probability < 0.5
    assert waited > 1.9  # the 2 s cap


def test_inference_is_quick_enough(smart_model) -> None:  # type: ignore[no-untyped-def]
    audio = np.random.default_rng(0).standard_normal(16000 * 8).astype(np.float32) * 0.05
    cpu = []
    for _ in range(3):
        started = time.thread_time()
        probability = smart_model.probability(audio)
        cpu.append(time.thread_time() - started)
    assert 0.0 <= probability <= 1.0
    assert min(cpu) < 0.5  # ~55 ms on one core of the 2-core CI machine


def test_the_model_is_found_without_importing_pipecat() -> None:
    import subprocess
    import sys

    code = ("import sys\n"
            "from aischoco.listen.turn_end import SmartTurnModel, packaged_model_path\n"
            "path = packaged_model_path()\n"
            "assert path.name == 'smart-turn-v3.2-cpu.onnx', path\n"
            "SmartTurnModel.load()\n"
            "assert 'pipecat' not in sys.modules\n")
    try:
        turn_end_module.packaged_model_path()
    except TurnEndUnavailable as exc:
        pytest.skip(str(exc))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False, encoding="utf-8")
    assert done.returncode == 0, done.stderr


def test_missing_model_says_how_to_install(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    monkeypatch.setattr(turn_end_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(TurnEndUnavailable) as caught:
        turn_end_module.SmartTurnModel.load()
    message = str(caught.value)
    assert message.index("설치") < message.index("not installed")  # Korean first
    assert "pip install --no-deps pipecat-ai==1.14.0" in message and "\n" not in message
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    pytest.importorskip("onnxruntime")
    with pytest.raises(TurnEndUnavailable, match="cannot load"):
        turn_end_module.SmartTurnModel.load(broken)


# --- the listener ---------------------------------------------------------------------------

async def _run_listener(tmp_path: Path, track, *, turn_detection: str, load_turn_model,  # type: ignore[no-untyped-def]
                        messages: int):
    from peers.transcription_server import TranscriptionServer, Transcribe
    from voice_fixtures.speech import write_wav

    from aischoco.listen.stt_groq import GroqTranscriber

    wav = write_wav(tmp_path / f"{turn_detection}.wav", track.audio)
    submitted: list[object] = []
    with TranscriptionServer(default=Transcribe("초코야 안녕")) as peer:
        stt = GroqTranscriber(api_key="gsk_voice", base_url=peer.base_url)
        barge = BargeIn("interrupt", ai_busy=lambda: False, interrupt=lambda: True)
        kwargs = {} if load_turn_model is None else {"load_turn_model": load_turn_model}
        listener = VoiceListener(f"file:{wav}", stt, barge, submitted.append,
                                 config=ListenerConfig(file_realtime=False,
                                                       turn_detection=turn_detection),
                                 **kwargs)
        board = StatusBoard()
        rows: list = []  # every status the row showed (the last one says the file ended)
        board.subscribe(lambda item: rows.append(
            type("Row", (), {"detail": item.detail, "hint": item.hint, "state": item.state})))
        task = asyncio.create_task(listener.run(board.register("voice", "음성 입력")))
        deadline = time.monotonic() + 30
        try:
            while "파일 끝까지" not in board.get("voice").detail or len(submitted) < messages:
                assert not task.done(), task.exception()
                assert time.monotonic() < deadline, board.get("voice").detail
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.1)
            row = next(r for r in reversed(rows) if "듣는 중" in r.detail)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await listener.aclose()
        uploads = len(peer.requests)
    return listener, row, submitted, uploads


async def test_without_the_model_smart_listens_by_silence_and_says_why(tmp_path: Path) -> None:
    from voice_fixtures.speech import mix, require_espeak

    require_espeak()
    pytest.importorskip("onnxruntime")

    def missing():  # type: ignore[no-untyped-def]
        raise TurnEndUnavailable("말 끝 판정 모델(smart-turn)이 설치되지 않았습니다: "
                                 "pip install --no-deps pipecat-ai==1.14.0 / not installed")

    track = mix([0.5, "초코야 오늘 저녁 뭐 먹을까?", 1.5])
    listener, row, submitted, _ = await _run_listener(
        tmp_path, track, turn_detection="smart", load_turn_model=missing, messages=1)
    assert listener.turn_detection == "silence" and listener.snapshot()["turn_fallback"]
    assert row.state is State.RUNNING
    assert "말 끝: 침묵 600 ms (말 끝 판정 모델(smart-turn)이 설치되지 않았습니다" in row.detail
    assert "pip install --no-deps pipecat-ai==1.14.0" in row.hint
    [message] = submitted
    voice = message.voice  # type: ignore[attr-defined]
    assert 0.55 < voice.turn_end - voice.speech_end < 0.8  # VOICE_END_SILENCE_MS=600
    assert listener.stats.turn_checks == 0


async def test_smart_keeps_an_unfinished_sentence_whole_where_silence_cuts_it(
        tmp_path: Path, smart_model) -> None:  # type: ignore[no-untyped-def]
    """"그러니까 내 말은 … (1 s) … 오늘은 일찍 끝내자는 거야.": silence (600 ms) makes two turns
    of it; the model hears that the first part is unfinished and keeps listening: one turn."""
    from voice_fixtures.speech import mix, require_espeak

    require_espeak()
    track = mix([0.5, "그러니까 내 말은", 1.0, "오늘은 일찍 끝내자는 거야.", 2.5])
    silence, _, cut, uploads_silence = await _run_listener(
        tmp_path, track, turn_detection="silence", load_turn_model=None, messages=2)
    smart, row, whole, uploads_smart = await _run_listener(
        tmp_path, track, turn_detection="smart", load_turn_model=lambda: smart_model,
        messages=1)
    assert (len(cut), uploads_silence) == (2, 2)
    assert (len(whole), uploads_smart) == (1, 1)
    assert smart.turn_detection == "smart" and "말 끝: 모델" in row.detail
    assert smart.stats.turn_not_finished >= 1 and smart.stats.turn_finished == 1
    # The one turn was taken by the model, not by the 2 s cap (here the file plays faster than
    # real time and the model's own time is added: ~0.3 s of silence + inference).
    voice = whole[0].voice  # type: ignore[attr-defined]
    assert voice.turn_end - voice.speech_end < 1.6


async def test_talking_holds_through_an_unfinished_pause(tmp_path: Path, smart_model) -> None:  # type: ignore[no-untyped-def]
    """Idle talk waits while the streamer talks: under `smart` that includes the pause inside
    an unfinished sentence the model is still waiting on (real time, the model on its thread)."""
    from peers.transcription_server import TranscriptionServer, Transcribe
    from voice_fixtures.speech import mix, require_espeak, write_wav

    from aischoco.listen.stt_groq import GroqTranscriber

    require_espeak()
    track = mix([1.0, "그러니까 내 말은", 1.0, "오늘은 일찍 끝내자는 거야.", 1.5])
    wav = write_wav(tmp_path / "mic.wav", track.audio)
    submitted: list[object] = []
    with TranscriptionServer(default=Transcribe("그러니까 내 말은 오늘은 일찍 끝내자는 거야")) as peer:
        stt = GroqTranscriber(api_key="gsk_voice", base_url=peer.base_url)
        barge = BargeIn("interrupt", ai_busy=lambda: False, interrupt=lambda: True)
        listener = VoiceListener(f"file:{wav}", stt, barge, submitted.append,
                                 config=ListenerConfig(file_realtime=True,
                                                       turn_detection="smart"),
                                 load_turn_model=lambda: smart_model)
        board = StatusBoard()
        task = asyncio.create_task(listener.run(board.register("voice", "음성 입력")))
        samples: list[tuple[float, bool]] = []
        started = None
        try:
            while "파일 끝까지" not in board.get("voice").detail:
                assert not task.done(), task.exception()
                if started is None and "듣는 중" in board.get("voice").detail:
                    started = time.monotonic()  # the file starts playing about now
                if started is not None:
                    samples.append((time.monotonic() - started, listener.talking))
                    assert time.monotonic() - started < 20
                await asyncio.sleep(0.02)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await listener.aclose()
    (_, first_end), (rest_start, _) = track.utterances
    assert len(submitted) == 1 and listener.stats.turn_not_finished >= 1
    pause = [talking for t, talking in samples if first_end + 0.3 < t < rest_start - 0.1]
    assert pause and all(pause)  # still "talking" in the pause: the turn is not over
    assert not samples[-1][1]


def test_another_onnx_model_is_refused_with_one_line() -> None:
    from aischoco.listen.vad import VadUnavailable, packaged_model_path

    pytest.importorskip("onnxruntime")
    try:
        other = packaged_model_path()  # Silero's file: valid ONNX, wrong model
    except VadUnavailable as exc:
        pytest.skip(str(exc))
    with pytest.raises(TurnEndUnavailable, match="cannot run") as caught:
        turn_end_module.SmartTurnModel.load(other)
    assert "\n" not in str(caught.value)
