"""Streaming resampling with libsoxr (python-soxr): chunk by chunk, no clicks at chunk joins, and
the total length exact after `flush()` (round(n · out/in)). Equal rates pass through untouched."""

from __future__ import annotations

import numpy as np
import soxr

_EMPTY = np.zeros(0, dtype=np.float32)


class StreamResampler:
    def __init__(self, in_rate: int, out_rate: int) -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._stream = (None if in_rate == out_rate
                        else soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32", quality="HQ"))

    def process(self, samples: np.ndarray) -> np.ndarray:
        if self._stream is None:
            return samples
        return self._stream.resample_chunk(samples)

    def flush(self) -> np.ndarray:
        """The resampler's tail: call once after the last chunk of a segment."""
        if self._stream is None:
            return _EMPTY
        return self._stream.resample_chunk(_EMPTY, last=True)
