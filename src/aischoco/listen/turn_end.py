"""Has the streamer finished their turn? The smart-turn v3 model (pipecat-ai, BSD-2) reads the last
up to 8 s of the utterance and says "finished" or "not yet" (VOICE_TURN_DETECTION=smart).

The model file ships inside the `pipecat-ai` wheel, installed with --no-deps: we only use its ONNX
file and run it with onnxruntime; the `pipecat` package itself is never imported (its __init__
needs pipecat's own dependencies). Our own parts:

* `model_window` / `log_mel` — pure numpy: the last 8 s at 16 kHz (zeros in front when shorter),
  then Whisper-style log-mel features (80 mel bands × 800 frames of 10 ms, the same math as
  `transformers.WhisperFeatureExtractor(chunk_length=8)`, which the tests compare against).
* `is_finished` — the decision: the model's probability against `FINISHED_AT`.
* `SmartTurnModel` — one onnxruntime session, loaded once, one CPU thread; not thread-safe.
* `TurnEndJudge` — runs the model on its own thread ("voice-turn-end"), never on the event loop
  nor on the VAD thread: a check is submitted, its verdict comes back through a callback.

When a check is asked for (the utterance detector's `EndCheck`: ~200 ms of silence after
confirmed speech) and what happens with the verdict is utterances.py's and listener.py's part.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..core.worker_thread import WorkerThread
from .onnx_session import open_session

if TYPE_CHECKING:
    import onnxruntime

__all__ = ["FINISHED_AT", "INSTALL_HINT", "MODEL_FILE", "SmartTurnModel", "TurnEndJudge",
           "TurnEndUnavailable", "TurnVerdict", "is_finished", "log_mel", "model_window",
           "packaged_model_path"]

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
WINDOW_S = 8  # the model reads the last 8 s
WINDOW = WINDOW_S * SAMPLE_RATE
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 80
FRAMES = WINDOW // HOP  # 800
FINISHED_AT = 0.5  # the model's probability of "finished" at or above which the turn is taken
PIPECAT_VERSION = "1.14.0"
MODEL_FILE = "smart-turn-v3.2-cpu.onnx"
INSTALL_HINT = f"pip install --no-deps pipecat-ai=={PIPECAT_VERSION}"


class TurnEndUnavailable(Exception):
    """The model file or onnxruntime is missing or unusable; str() is one line, Korean first."""


# --- features (pure) ------------------------------------------------------------------------

def model_window(audio: np.ndarray) -> np.ndarray:
    """The last `WINDOW_S` seconds of 16 kHz mono audio, zero-padded in front when shorter."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if audio.size >= WINDOW:
        return audio[audio.size - WINDOW:]
    out = np.zeros(WINDOW, dtype=np.float32)
    out[WINDOW - audio.size:] = audio
    return out


def _slaney_mel(hz: np.ndarray) -> np.ndarray:
    # Linear below 1 kHz (3 mels per 200 Hz), logarithmic above (27 mels per factor 6.4).
    hz = np.asarray(hz, dtype=np.float64)
    return np.where(hz < 1000.0, hz * 3.0 / 200.0,
                    15.0 + np.log(np.maximum(hz, 1e-9) / 1000.0) * 27.0 / np.log(6.4))


def _slaney_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel < 15.0, mel * 200.0 / 3.0,
                    1000.0 * np.exp((mel - 15.0) * np.log(6.4) / 27.0))


def _mel_filters() -> np.ndarray:
    """(N_MELS, N_FFT // 2 + 1) triangular filters from 0 to 8 kHz, each of unit area (Slaney)."""
    edges = _slaney_hz(np.linspace(_slaney_mel(0.0), _slaney_mel(SAMPLE_RATE / 2), N_MELS + 2))
    bins = np.linspace(0.0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / (centre - lower)
    falling = (upper - bins[None, :]) / (upper - centre)
    triangles = np.maximum(0.0, np.minimum(rising, falling))
    return (triangles * (2.0 / (upper - lower))).astype(np.float32)


_FILTERS = _mel_filters()
_HANN = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)  # periodic


def log_mel(window: np.ndarray) -> np.ndarray:
    """Whisper-style features of an 8 s window (`model_window`): (80, 800) float32.

    The waveform is normalised to zero mean and unit variance, framed (25 ms Hann, 10 ms hop,
    centred with reflection at the edges), power spectrum → 80 Slaney mel bands → log10, floored
    at 8 below the maximum, then scaled by (x + 4) / 4."""
    x = np.asarray(window, dtype=np.float32)
    if x.shape != (WINDOW,):
        raise ValueError(f"expected {WINDOW} samples, got shape {x.shape}")
    x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
    padded = np.pad(x, N_FFT // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][:FRAMES]
    spectrum = np.fft.rfft(frames * _HANN, axis=-1)
    power = spectrum.real ** 2 + spectrum.imag ** 2  # (800, 201)
    mel = np.log10(np.maximum(_FILTERS @ power.T, 1e-10))
    mel = np.maximum(mel, mel.max() - 8.0)
    return ((mel + 4.0) / 4.0).astype(np.float32)


def is_finished(probability: float) -> bool:
    return probability >= FINISHED_AT


# --- the model ----------------------------------------------------------------------------------

def packaged_model_path() -> Path:
    """`pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx` of the installed pipecat-ai
    wheel, found without executing the package."""
    spec = importlib.util.find_spec("pipecat")
    for folder in list(spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "audio" / "turn" / "smart_turn" / "data" / MODEL_FILE
        if path.is_file():
            return path
    raise TurnEndUnavailable(
        f"말 끝 판정 모델(smart-turn)이 설치되지 않았습니다: {INSTALL_HINT} / "
        f"the smart-turn model is not installed: {INSTALL_HINT}")


class SmartTurnModel:
    def __init__(self, session: onnxruntime.InferenceSession) -> None:
        """Use `load`; this takes an open session of a smart-turn v3 model."""
        self._session = session
        self._input = session.get_inputs()[0].name

    @classmethod
    def load(cls, path: Path | None = None) -> SmartTurnModel:
        """None → the model in the pipecat-ai wheel. Raises TurnEndUnavailable."""
        path = packaged_model_path() if path is None else Path(path)
        session = open_session(path, "말 끝 판정 모델", "turn-end model", TurnEndUnavailable)
        model = cls(session)
        try:  # warm-up (the first run is slow), and proof that the file is this kind of model
            model.probability(np.zeros(SAMPLE_RATE, dtype=np.float32))
        except Exception as exc:  # wrong inputs or shapes: onnxruntime's untyped errors
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise TurnEndUnavailable(f"말 끝 판정 모델을 쓸 수 없습니다: {path} ({reason}) / "
                                     f"cannot run the turn-end model {path}") from exc
        return model

    def probability(self, audio: np.ndarray) -> float:
        """P(the speaker has finished) for 16 kHz mono float32 audio ending now."""
        features = log_mel(model_window(audio))[None]
        (out, *_) = self._session.run(None, {self._input: features})
        return float(np.asarray(out).reshape(-1)[0])


# --- off-thread judge -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class TurnVerdict:
    check: int  # the detector's EndCheck.check it answers
    probability: float
    finished: bool
    wall_ms: float  # features + inference, as timed on the judge's thread
    cpu_ms: float  # the judge thread's CPU for it


class TurnEndJudge:
    """The model on a thread of its own; one check at a time, in order."""

    def __init__(self, model: SmartTurnModel) -> None:
        self._model = model
        self._thread = WorkerThread("voice-turn-end", lambda: RuntimeError("turn-end judge closed"))

    def judge(self, check: int, audio: np.ndarray) -> TurnVerdict:
        """Run on the calling thread (the judge thread, or a test's)."""
        wall, cpu = time.perf_counter(), time.thread_time()
        probability = self._model.probability(audio)
        return TurnVerdict(check, probability, is_finished(probability),
                           (time.perf_counter() - wall) * 1000, (time.thread_time() - cpu) * 1000)

    def submit(self, check: int, audio: np.ndarray,
               done: Callable[[TurnVerdict | None], None]) -> None:
        """Judge on the judge thread; `done` is called there with the verdict (None if the model
        failed: logged, and the turn then ends by silence)."""
        def finished(future: Future[TurnVerdict]) -> None:
            try:
                verdict = future.result()
            except Exception:  # noqa: BLE001 - a broken model must not stop listening
                log.exception("voice input: the turn-end model failed")
                verdict = None
            done(verdict)

        try:
            self._thread.submit(self.judge, check, audio).add_done_callback(finished)
        except RuntimeError:  # closed: the listener is stopping
            done(None)

    def close(self) -> None:
        self._thread.stop()
