"""The voice-input component in process: real Korean speech (espeak-ng) in a WAV file played as
the microphone, the real Silero model, the real Groq transcription client against a local
server, and what comes out: streamer voice messages, drops, barge-in calls, the echo gate."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from aischoco.core.messages import ChatMessage, Kind, Role
from aischoco.core.status import State, StatusBoard
from aischoco.listen.barge_in import AudibleWindow, BargeIn
from aischoco.listen.listener import BargeInReady, ListenerConfig, ListenerStats, VadWorker, VoiceListener
from aischoco.listen.stt_groq import GroqTranscriber
from aischoco.listen.utterances import SpeechStarted, Utterance, UtteranceDetector, VadConfig
from peers.transcription_server import Fail, TranscriptionServer, Transcribe
from system_deps import ALSA_CONF, require_portaudio
from voice_fixtures.speech import mix, require_espeak, write_wav

pytest.importorskip("onnxruntime")

FIRST = "초코야, 오늘 저녁 뭐 먹을까?"
SECOND = "안녕하세요 여러분, 오늘 방송에 와 주셔서 감사합니다."


class Recorder:
    def __init__(self) -> None:
        self.messages: list[ChatMessage] = []
        self.interrupts: list[float] = []
        self.busy = True

    def submit(self, msg: ChatMessage) -> None:
        self.messages.append(msg)

    def interrupt(self) -> bool:
        self.interrupts.append(time.monotonic())
        return True


async def _listen(spec: str, peer: TranscriptionServer, recorder: Recorder, *,
                  mode: str = "interrupt", until=None, timeout: float = 20.0,
                  audible: AudibleWindow | None = None, **config) -> tuple[VoiceListener, State]:
    stt = GroqTranscriber(api_key="gsk_voice", base_url=peer.base_url)
    barge = BargeIn(mode, ai_busy=lambda: recorder.busy, interrupt=recorder.interrupt)  # type: ignore[arg-type]
    listener = VoiceListener(spec, stt, barge, recorder.submit, audible=audible,
                             config=ListenerConfig(file_realtime=False, **config))
    board = StatusBoard()
    task = asyncio.create_task(listener.run(board.register("voice", "음성 입력")))
    deadline = time.monotonic() + timeout
    try:
        while not (until or (lambda: "파일 끝까지" in board.get("voice").detail))():
            assert not task.done(), task.exception()
            assert time.monotonic() < deadline, board.get("voice").detail
            await asyncio.sleep(0.02)
        state = board.get("voice").state
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await listener.aclose()
    return listener, state


@pytest.fixture
def peer():
    with TranscriptionServer() as server:
        yield server


async def test_each_spoken_sentence_becomes_one_streamer_voice_message(tmp_path: Path, peer) -> None:
    require_espeak()
    track = mix([1.0, FIRST, 1.5, SECOND, 1.0])
    wav = write_wav(tmp_path / "mic.wav", track.audio)
    peer.script([Transcribe(FIRST), Transcribe(SECOND)])
    recorder = Recorder()
    recorder.busy = False
    listener, state = await _listen(f"file:{wav}", peer, recorder,
                                    until=lambda: len(recorder.messages) == 2)
    assert [m.message for m in recorder.messages] == [FIRST, SECOND]
    for msg in recorder.messages:
        assert (msg.role, msg.kind, msg.user, msg.source) == (Role.STREAMER, Kind.VOICE, "방장", "voice")
        # (played faster than real time here: the daemon test checks against the wall clock)
        assert msg.voice is not None and msg.voice.speech_end < msg.voice.turn_end
    # Each upload is its own utterance: speech plus the pads, not the whole track.
    for upload, (start, end) in zip(peer.requests, track.utterances, strict=True):
        seconds = (len(upload.data) - 44) / 2 / 16000
        assert end - start < seconds < end - start + 0.6
    assert listener.stats.utterances == 2 and recorder.interrupts == []  # nobody was speaking
    assert state is State.RUNNING


async def test_silence_and_noise_make_no_turn_and_no_request(tmp_path: Path, peer) -> None:
    rng = np.random.default_rng(1)
    audio = (rng.standard_normal(16000 * 6) * 10 ** (-45 / 20)).astype(np.float32)
    wav = write_wav(tmp_path / "quiet.wav", audio)
    recorder = Recorder()
    listener, _ = await _listen(f"file:{wav}", peer, recorder)
    assert recorder.messages == [] and peer.requests == [] and recorder.interrupts == []
    assert listener.stats.vad_frames >= 6 * 16000 // 512


async def test_hallucinated_transcripts_are_dropped_and_counted(tmp_path: Path, peer) -> None:
    require_espeak()
    wav = write_wav(tmp_path / "mic.wav", mix([0.5, FIRST, 1.0]).audio)
    peer.script([Transcribe("시청해 주셔서 감사합니다.")])
    recorder = Recorder()
    listener, _ = await _listen(f"file:{wav}", peer, recorder)
    assert recorder.messages == [] and len(peer.requests) == 1
    assert listener.stats.dropped == {"silence_phrase": 1}


async def test_a_failed_transcription_loses_one_utterance_and_says_so(tmp_path: Path, peer) -> None:
    require_espeak()
    wav = write_wav(tmp_path / "mic.wav", mix([0.5, FIRST, 1.5, SECOND, 1.0]).audio)
    peer.script([Fail(500), Fail(500), Transcribe(SECOND)])  # the first is retried once, then lost
    recorder = Recorder()
    recorder.busy = False
    listener, _ = await _listen(f"file:{wav}", peer, recorder,
                                until=lambda: len(recorder.messages) == 1)
    assert [m.message for m in recorder.messages] == [SECOND]
    assert listener.stats.stt_errors == 1 and len(peer.requests) == 3


@pytest.mark.parametrize("turn_detection", ["silence", "smart"])
async def test_barge_in_fires_once_per_utterance_while_the_ai_is_busy(tmp_path: Path, peer,
                                                                      turn_detection: str) -> None:
    require_espeak()
    track = mix([1.0, FIRST, 2.5, SECOND, 1.0])
    wav = write_wav(tmp_path / "mic.wav", track.audio)
    recorder = Recorder()
    listener, _ = await _listen(f"file:{wav}", peer, recorder, barge_in_min_ms=300,
                                until=lambda: len(recorder.messages) == 2,
                                turn_detection=turn_detection)
    assert len(recorder.interrupts) == 2
    assert listener.barge_in.stats.interrupted == 2


@pytest.mark.parametrize("turn_detection", ["silence", "smart"])
async def test_echo_gate_keeps_the_ais_own_voice_out(tmp_path: Path, peer,
                                                    turn_detection: str) -> None:
    """VOICE_BARGE_IN=ignore: while our audio is audible, the microphone is not listened to."""
    require_espeak()
    wav = write_wav(tmp_path / "mic.wav", mix([0.5, FIRST, 1.0]).audio)
    audible = AudibleWindow(tail_s=0.3)
    # Our audio output says: sound is playing for the next minute (the mic hears the speakers).
    audible.note_block(np.ones(16000 * 60, np.float32), 16000, time.monotonic())
    recorder = Recorder()
    listener, _ = await _listen(f"file:{wav}", peer, recorder, mode="ignore", audible=audible,
                                turn_detection=turn_detection)
    assert recorder.messages == [] and peer.requests == [] and recorder.interrupts == []
    assert listener.stats.gated_frames > 0 and listener.stats.vad_frames == 0
    assert listener.stats.turn_checks == 0


class ScriptedVad:
    """Stands in for Silero in the worker's timing tests: one scripted probability per frame."""

    FRAME = 512

    def __init__(self, probs: list[float]) -> None:
        self.probs = list(probs)
        self.resets = 0

    def probability(self, frame: np.ndarray) -> float:
        return self.probs.pop(0) if self.probs else 0.0

    def reset(self) -> None:
        self.resets += 1


def _run_worker(probs: list[float], *, barge_min_s: float, gate=None, in_rate: int = 16000):
    posted: list[object] = []
    worker = VadWorker(ScriptedVad(probs), UtteranceDetector(VadConfig(min_speech_ms=100,
                                                                       end_silence_ms=320)),
                       in_rate=in_rate, post=posted.extend, barge_in_min_s=barge_min_s,
                       gate=gate, stats=ListenerStats())
    blocks = len(probs)
    step = 512 * in_rate // 16000
    for i in range(blocks):
        worker.feed(np.zeros(step, np.float32), 100.0 + i * step / in_rate)
    worker.close()
    worker.run()
    return posted


def test_barge_in_waits_for_the_minimum_speech_then_fires_once() -> None:
    frame_s = 512 / 16000
    probs = [0.0] * 5 + [0.9] * 20 + [0.0] * 15
    posted = _run_worker(probs, barge_min_s=0.3)
    [started] = [e for e in posted if isinstance(e, SpeechStarted)]
    [ready] = [e for e in posted if isinstance(e, BargeInReady)]
    assert started.at == pytest.approx(100.0 + 5 * frame_s)
    # ceil(0.3 / 0.032) = 10 voiced frames: ready at the end of the 10th
    assert ready.at == pytest.approx(started.at + 10 * frame_s)
    assert len([e for e in posted if isinstance(e, Utterance)]) == 1


def test_a_backchannel_shorter_than_the_barge_in_minimum_never_interrupts() -> None:
    probs = [0.0] * 5 + [0.9] * 6 + [0.0] * 15  # 192 ms "응": an utterance, not a barge-in
    posted = _run_worker(probs, barge_min_s=0.3)
    assert not any(isinstance(e, BargeInReady) for e in posted)
    assert len([e for e in posted if isinstance(e, Utterance)]) == 1


def test_frames_keep_their_capture_time_through_resampling() -> None:
    """A 48 kHz microphone: frame times still follow the capture clock."""
    probs = [0.0] * 10 + [0.9] * 10 + [0.0] * 15
    posted = _run_worker(probs, barge_min_s=0.1, in_rate=48000)
    [started] = [e for e in posted if isinstance(e, SpeechStarted)]
    # soxr's delay shifts the scripted frames by less than one frame
    assert abs(started.at - (100.0 + 10 * 512 / 16000)) < 512 / 16000 + 1e-6


def test_a_real_portaudio_microphone_delivers_what_it_hears(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """PortAudio input through an ALSA `file` device whose capture side reads a raw file: the
    microphone is found by part of its name and hands over exactly those samples, in order."""

    from aischoco.audio.devices import find_input, list_devices
    from aischoco.listen.capture import DeviceCapture

    require_portaudio()
    system_conf = str(ALSA_CONF)
    rate = 44100
    heard = (0.5 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)).astype("<f4")
    raw = tmp_path / "mic.raw"
    heard.tofile(raw)
    conf = tmp_path / "asoundrc"
    conf.write_text(f'pcm.aischoco_mic {{ type file slave.pcm "null" file "/dev/null" '
                    f'infile "{raw}" format "raw" hint {{ show on description "test mic" }} }}\n',
                    encoding="utf-8")
    monkeypatch.setenv("ALSA_CONFIG_PATH", f"{system_conf}:{conf}")
    blocks: list[tuple[np.ndarray, float]] = []
    try:
        device = find_input("aischoco_mic", refresh=True)
        capture = DeviceCapture(device)
        capture.start(lambda block, at: blocks.append((block, at)))
        deadline = time.monotonic() + 5
        while sum(b.size for b, _ in blocks) < heard.size and time.monotonic() < deadline:
            time.sleep(0.01)
        assert capture.problem() is None
        capture.stop()
    finally:
        monkeypatch.delenv("ALSA_CONFIG_PATH")
        list_devices("input", refresh=True)
    got = np.concatenate([b for b, _ in blocks])
    assert device.default_rate == rate and blocks[0][0].dtype == np.float32
    assert np.array_equal(got[: heard.size], heard)
    assert all(b.ndim == 1 for b, _ in blocks)
    assert all(later >= earlier for (_, earlier), (_, later) in zip(blocks, blocks[1:]))


async def test_talking_holds_from_the_first_word_until_the_turn_is_submitted(tmp_path: Path,
                                                                            peer) -> None:
    """Idle talk never starts over the streamer: `talking` is what the director asks."""
    require_espeak()
    track = mix([1.2, FIRST, 1.5])
    wav = write_wav(tmp_path / "mic.wav", track.audio)
    peer.script([Transcribe(FIRST)])
    recorder = Recorder()
    recorder.busy = False
    stt = GroqTranscriber(api_key="gsk_voice", base_url=peer.base_url)
    barge = BargeIn("ignore", ai_busy=lambda: False, interrupt=recorder.interrupt)
    listener = VoiceListener(f"file:{wav}", stt, barge, recorder.submit,
                             config=ListenerConfig(file_realtime=True))
    board = StatusBoard()
    task = asyncio.create_task(listener.run(board.register("voice", "음성 입력")))
    samples: list[tuple[float, bool, int]] = []  # (seconds since start, talking, messages)
    started = time.monotonic()
    try:
        while "파일 끝까지" not in board.get("voice").detail:
            assert not task.done(), task.exception()
            assert time.monotonic() - started < 20
            samples.append((time.monotonic() - started, listener.talking, len(recorder.messages)))
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await listener.aclose()
    (start, end), = track.utterances
    assert [m.message for m in recorder.messages] == [FIRST]
    assert not any(talking for t, talking, _ in samples if t < start - 0.1)  # silence first
    talking_at = [t for t, talking, _ in samples if talking]
    assert talking_at and talking_at[0] < end  # on while the words are still coming
    assert all(n == 0 for _, talking, n in samples if talking)  # off once the turn is queued
    assert not samples[-1][1]
