"""Speech to text behind one small interface; each engine lives in its own module."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

SAMPLE_RATE = 16_000  # every engine gets 16 kHz mono float32 in [-1, 1]


class SttError(Exception):
    """Transcription failed; str() is one line for the log and the panel."""


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    language: str | None = None
    # Engines that know it (local Whisper) say how likely the audio held no speech at all;
    # the transcript filter drops hallucinated text on silence with it.
    no_speech_prob: float | None = None


class SpeechToText(Protocol):
    name: str

    async def load(self) -> None:
        """Prepare (load a model, check a server). Raises SttError with a clear reason."""

    async def transcribe(self, audio: np.ndarray) -> Transcript:
        """`audio`: one utterance, 16 kHz mono float32. Never blocks the event loop."""

    async def aclose(self) -> None: ...
