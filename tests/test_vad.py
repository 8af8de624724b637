"""Silero VAD (the real packaged model) + UtteranceDetector on real Korean speech from espeak-ng.

Frame i is captured at i·512/16000 s. Truth boundaries come from `voice_fixtures.speech.mix`:
where each espeak clip's energy starts and ends (espeak stops abruptly, at full level).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
from voice_fixtures.speech import RATE, MixedAudio, mix, noise, require_espeak

from aischoco.listen import vad as vad_module
from aischoco.listen.utterances import (
    SpeechStarted,
    Utterance,
    UtteranceDetector,
    VadConfig,
    VadEvent,
)
from aischoco.listen.vad import (FAST_MODEL_FILE, FRAME, SileroVad, VadUnavailable,
                                 packaged_model_path)

FRAME_S = FRAME / RATE
SENTENCES = ["안녕하세요 여러분, 오늘 방송에 와 주셔서 감사합니다.",
             "초코야, 오늘 저녁 뭐 먹을까?",
             "내일은 게임 방송을 할 거예요."]


@pytest.fixture(scope="module")
def vad() -> SileroVad:
    try:
        return SileroVad.load()
    except VadUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def sentences_track() -> MixedAudio:
    require_espeak()
    return mix([1.0, SENTENCES[0], 1.5, SENTENCES[1], 1.2, SENTENCES[2], 1.2])


def probabilities(vad: SileroVad, audio: np.ndarray) -> list[float]:
    vad.reset()
    return [vad.probability(audio[i:i + FRAME]) for i in range(0, audio.size - FRAME + 1, FRAME)]


def detect(vad: SileroVad, audio: np.ndarray, config: VadConfig | None = None) -> list[VadEvent]:
    vad.reset()
    detector = UtteranceDetector(config or VadConfig())
    events: list[VadEvent] = []
    for i in range(0, audio.size - FRAME + 1, FRAME):
        frame = audio[i:i + FRAME]
        events += detector.push(frame, vad.probability(frame), i / RATE)
    return events + detector.flush(audio.size / RATE)


def frame_edges(start_s: float, end_s: float) -> tuple[float, float]:
    """The true span widened to whole frames: the start of the frame holding the first speech
    sample and the end of the frame holding the last. A frame-accurate detector can do no better."""
    first = round(start_s * RATE) // FRAME
    last = (round(end_s * RATE) - 1) // FRAME
    return first * FRAME_S, (last + 1) * FRAME_S


def test_one_utterance_per_sentence_at_the_right_times(vad: SileroVad,
                                                       sentences_track: MixedAudio) -> None:
    track = sentences_track
    config = VadConfig(end_lag_ms=SileroVad.END_LAG_MS)
    utterances = [e for e in detect(vad, track.audio, config) if isinstance(e, Utterance)]
    assert len(utterances) == len(SENTENCES), [(u.started_at, u.ended_at) for u in utterances]
    for utterance, (start, end) in zip(utterances, track.utterances, strict=True):
        start_edge, _ = frame_edges(start, end)
        assert abs(utterance.started_at - start) <= 0.1
        # ended_at: the end of the last frame >= threshold, less Silero's trailing delay
        assert abs(utterance.ended_at - end) <= 0.1
        assert start_edge <= utterance.started_at
        # decided one silence run after the trailing (weaker) frames: 600 ms + a few frames
        lag = config.end_lag_ms / 1000
        assert (config.end_silence_ms / 1000 + lag <= utterance.decided_at - utterance.ended_at
                <= config.end_silence_ms / 1000 + lag + 4 * FRAME_S)
        # STT gets all of the speech, the trailing frames and the pads included
        pad = config.pad_ms / 1000
        assert utterance.audio.size >= round(
            (utterance.ended_at + lag - utterance.started_at + 2 * pad) * RATE)
        assert utterance.started_at - pad <= start and end <= utterance.ended_at + pad


@pytest.mark.parametrize("kind", ["pink", "white"])
def test_room_tone_never_starts(vad: SileroVad, kind: Literal["pink", "white"]) -> None:
    track = mix([10.0], noise_db=-45.0, noise_kind=kind, seed=1)
    assert not [e for e in detect(vad, track.audio) if isinstance(e, SpeechStarted)]


def test_loud_white_noise_is_not_speech(vad: SileroVad) -> None:
    events = detect(vad, noise(10 * RATE, -30.0, kind="white", seed=2))
    assert not [e for e in events if isinstance(e, Utterance)]


def test_state_carries_over_and_reset_repeats_it(vad: SileroVad,
                                                 sentences_track: MixedAudio) -> None:
    audio = sentences_track.audio
    first = probabilities(vad, audio)
    assert probabilities(vad, audio) == first  # reset() inside: bit for bit the same
    assert probabilities(SileroVad.load(), audio) == first
    stateless = []
    for i in range(0, audio.size - FRAME + 1, FRAME):
        vad.reset()
        stateless.append(vad.probability(audio[i:i + FRAME]))
    assert max(abs(a - b) for a, b in zip(first, stateless)) > 0.1  # the state matters


def test_matches_the_packaged_sequence_model(vad: SileroVad, sentences_track: MixedAudio) -> None:
    """The wheel's batched model runs the same network over all frames at once, with the
    context built by its own code: our frame-by-frame state and context must agree exactly."""
    import onnxruntime as ort

    path = packaged_model_path().parent / "silero_vad_16k_sequence.onnx"
    if not path.is_file():
        pytest.skip(f"{path.name} is not in this silero-vad version")
    audio = sentences_track.audio
    frames = audio[:audio.size // FRAME * FRAME].reshape(-1, FRAME)
    context = np.zeros((frames.shape[0], 64), dtype=np.float32)
    context[1:] = frames[:-1, -64:]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    zeros = np.zeros((1, 1, 128), dtype=np.float32)
    (expected, *_) = session.run(["speech_probs"], {
        "input": np.concatenate([context, frames], axis=1), "h": zeros, "c": zeros})
    np.testing.assert_allclose(probabilities(vad, audio), expected.reshape(-1), atol=1e-5)


def test_the_faster_16k_file_gives_the_general_models_probabilities(
        vad: SileroVad, sentences_track: MixedAudio) -> None:
    """SileroVad.load() runs the wheel's 16 kHz sequence file (less CPU at real time,
    bench/README.md); the general silero_vad.onnx (input/state/sr) must agree with it frame by
    frame, so the measured VAD behaviour is the same whichever file is used."""
    if not (packaged_model_path().parent / FAST_MODEL_FILE).is_file():
        pytest.skip(f"{FAST_MODEL_FILE} is not in this silero-vad version")
    general = SileroVad.load(packaged_model_path())
    assert vad.model_name == FAST_MODEL_FILE and general.model_name == "silero_vad.onnx"
    audio = sentences_track.audio
    np.testing.assert_allclose(probabilities(vad, audio), probabilities(general, audio),
                               atol=1e-5)


def test_rejects_other_frame_sizes(vad: SileroVad) -> None:
    with pytest.raises(ValueError, match="512"):
        vad.probability(np.zeros(480, dtype=np.float32))


def test_model_found_without_importing_silero_vad() -> None:
    code = ("import sys\n"
            "from aischoco.listen.vad import SileroVad, packaged_model_path\n"
            "path = packaged_model_path()\n"
            "assert path.name == 'silero_vad.onnx' and path.is_file(), path\n"
            "SileroVad.load()\n"
            "assert 'silero_vad' not in sys.modules\n"
            "assert 'torch' not in sys.modules\n")
    try:
        packaged_model_path()
    except VadUnavailable as exc:
        pytest.skip(str(exc))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False, encoding="utf-8")
    assert done.returncode == 0, done.stderr


def test_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vad_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(VadUnavailable) as caught:
        SileroVad.load()
    message = str(caught.value)
    assert message.index("설치") < message.index("not installed")  # Korean first
    assert "pip install --no-deps silero-vad==6.2.3" in message
    assert "\n" not in message


def test_unusable_model_file(tmp_path: Path) -> None:
    with pytest.raises(VadUnavailable, match="not found"):
        SileroVad.load(tmp_path / "missing.onnx")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    pytest.importorskip("onnxruntime")
    with pytest.raises(VadUnavailable, match="cannot load") as caught:
        SileroVad.load(broken)
    assert "\n" not in str(caught.value)

