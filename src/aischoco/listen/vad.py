"""Silero VAD (v5/v6 ONNX) run with onnxruntime: one speech probability per 32 ms frame.

The model comes from the `silero-vad` wheel, installed with --no-deps because we only need its
data file. We never import the `silero_vad` package (its __init__ imports torch); find_spec only
locates it. Not thread-safe: one instance belongs to one capture worker thread.

Measured on espeak-ng speech (tests/test_vad.py): the probability stays >= 0.35 for about three
frames (~96 ms) after speech stops abruptly, so an end found with it lags the true end by ~0.1 s.

The wheel ships the same network in several ONNX files. We run `silero_vad_16k_sequence.onnx`
(16 kHz only, LSTM state as h/c): it gives the same probabilities as the general
`silero_vad.onnx` (tests/test_vad.py) for ~20 % less CPU per frame at real time (a frame every
32 ms, caches cold: 0.50 vs 0.67 ms here, bench/README.md), because it has no 8 kHz branch and no
`If` node to run. The general file (input/state/sr) is used when the wheel lacks the other.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .onnx_session import open_session

if TYPE_CHECKING:
    import onnxruntime

__all__ = ["FRAME", "SAMPLE_RATE", "SileroVad", "VadUnavailable", "packaged_model_path"]

SAMPLE_RATE = 16_000
FRAME = 512  # samples per call at 16 kHz (32 ms); the only size the model takes at this rate
_CONTEXT = 64  # the model sees the previous frame's last 64 samples in front of each frame
INSTALL_HINT = "pip install --no-deps silero-vad==6.2.3"
MODEL_FILE = "silero_vad.onnx"
FAST_MODEL_FILE = "silero_vad_16k_sequence.onnx"  # same network, 16 kHz only, h/c state


class VadUnavailable(Exception):
    """The model or onnxruntime is missing or unusable; str() is one line, Korean then English."""


def packaged_model_path(name: str = MODEL_FILE) -> Path:
    """`silero_vad/data/<name>` of the installed wheel, without executing the package."""
    spec = importlib.util.find_spec("silero_vad")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        path = Path(folder) / "data" / name
        if path.is_file():
            return path
    raise VadUnavailable(
        f"Silero VAD 모델이 설치되지 않았습니다: {INSTALL_HINT} / "
        f"the Silero VAD model is not installed: {INSTALL_HINT}")


class SileroVad:
    FRAME = FRAME
    SAMPLE_RATE = SAMPLE_RATE
    # Its speech probability trails the acoustic end by 2–4 frames (3 on espeak speech in noise,
    # 0–3 without): utterance ends are moved back by two frames (VadConfig.end_lag_ms).
    END_LAG_MS = 64

    def __init__(self, session: onnxruntime.InferenceSession) -> None:
        """Use `load`; this takes an open session of a Silero v5/v6 16 kHz model: the general
        one (input, state, sr) or the 16 kHz sequence one (input, h, c)."""
        self._session = session
        self._sr = np.array(SAMPLE_RATE, dtype=np.int64)
        # Model input is [context | frame]; reusing one buffer avoids an allocation per frame.
        self._input = np.zeros((1, _CONTEXT + FRAME), dtype=np.float32)
        self._sequence = {"h", "c"} <= {i.name for i in session.get_inputs()}
        self.reset()

    @property
    def model_name(self) -> str:
        return FAST_MODEL_FILE if self._sequence else MODEL_FILE

    @classmethod
    def load(cls, path: Path | None = None) -> SileroVad:
        """None → the model packaged in the silero-vad wheel (the 16 kHz sequence file when the
        wheel has it). Raises VadUnavailable."""
        if path is None:
            path = packaged_model_path()
            if (path.parent / FAST_MODEL_FILE).is_file():
                path = path.parent / FAST_MODEL_FILE
        path = Path(path)
        session = open_session(path, "VAD 모델", "VAD model", VadUnavailable)
        return cls(session)

    def probability(self, frame: np.ndarray) -> float:
        """Speech probability of the next 512 samples (16 kHz mono float32 in [-1, 1]).

        Frames must be consecutive: the recurrent state and context carry over between calls."""
        if frame.shape != (FRAME,):
            raise ValueError(f"expected {FRAME} samples, got shape {frame.shape}")
        self._input[0, _CONTEXT:] = frame
        if self._sequence:
            out, self._h, self._c = self._session.run(
                None, {"input": self._input, "h": self._h, "c": self._c})
            out = out.reshape(1, 1)
        else:
            out, self._state = self._session.run(
                None, {"input": self._input, "state": self._state, "sr": self._sr})
        # The next frame's context is this frame's tail.
        self._input[0, :_CONTEXT] = self._input[0, -_CONTEXT:]
        return float(out[0, 0])

    def reset(self) -> None:
        """Forget the audio so far (a new stream, or after a gap in capture)."""
        self._input.fill(0.0)
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
