"""Streamed response text → sentences to show and to speak, as soon as each is final (pure).

The non-streamed path cuts, masks and cleans the whole answer, then segments it. A streamed
answer cannot wait for the whole, so the same rules apply per sentence: the streaming
SentenceSegmenter releases a unit once no later text can move its boundaries, the unit is masked
by the AI output filter (shown as ``*``), and its spoken form is ``spoken_text`` of the masked
unit. A longer answer than ``max_chars`` is cut at the last sentence that fits, as
``cut_at_sentence`` does, and text after the cut is ignored; units already released stay.

The first unit is what the viewer waits for, so it does not wait like the others until the next
``min_chars`` characters exist (SentenceSegmenter holds a unit back in case a short last fragment
must merge into it). It leaves as soon as its end is certain, found by a second segmenter with
``min_chars=0``, and the rest of the answer is segmented on its own. So the units are exactly
``segment()``'s for the whole text, except that a rest shorter than ``min_chars`` becomes a unit
of its own instead of joining the first (about 20 ms sooner at 500 tokens/s).

Per-sentence masking cannot see a banned word that spans two sentences; per-sentence cleaning
cannot join symbol runs across them. Both are as rare as they are harmless.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..core.segmenter import SegmenterConfig, SentenceSegmenter, segment
from .prompts import OutputFilter, cut_at_sentence
from .speech_text import spoken_text

__all__ = ["Sentence", "SentenceStream"]

# Text read beyond max_chars before deciding the cut, so a sentence ending right at the limit is
# seen as ended (its terminator needs the whitespace after it).
CUT_LOOKAHEAD_CHARS = 8
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Sentence:
    shown: str  # the whole answer as the overlay shows it, up to and including this sentence
    spoken: str  # this sentence as TTS should say it ("" when nothing is pronounceable)
    text: str  # this sentence as shown (masked)


def _whole_characters(text: str) -> str:
    """Surrogate halves (an emoji split by the server) joined, lone ones made U+FFFD: a str
    with lone halves cannot be written as UTF-8 (history file, TTS request)."""
    if _SURROGATE_RE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


class SentenceStream:
    """``push`` the response text as it arrives, then ``finish`` once it is complete."""

    def __init__(self, config: SegmenterConfig, *, max_chars: int,
                 output_filter: OutputFilter) -> None:
        if max_chars < 1:
            raise ValueError("max_chars must be >= 1")
        self._config = config
        self._max = max_chars
        self._filter = output_filter
        self._segmenter = SentenceSegmenter(config)
        # Until the first unit is out: sentences as soon as their end is certain.
        self._probe: SentenceSegmenter | None = SentenceSegmenter(
            SegmenterConfig(min_chars=0, max_chars=config.max_chars))
        self._probed: list[str] = []
        self._text = ""  # response text so far (leading whitespace dropped)
        self._released = 0  # end of the last released unit in _text
        self._shown: list[str] = []
        self._spoken: list[str] = []
        self.closed = False  # no more text is taken (finished or cut)
        self.cut = False  # the answer was longer than max_chars
        self.masked = False  # a banned word was masked

    @property
    def shown(self) -> str:
        """Everything released so far, as the overlay shows it."""
        return "".join(self._shown)

    @property
    def spoken(self) -> str:
        return " ".join(self._spoken)

    @property
    def released(self) -> int:
        """Number of sentences released so far."""
        return len(self._shown)

    def push(self, delta: str) -> list[Sentence]:
        if self.closed or not delta:
            return []
        if not self._text:
            delta = delta.lstrip()
        room = self._max + CUT_LOOKAHEAD_CHARS - len(self._text)
        piece = delta[:room]
        self._text += piece
        if self._probe is not None:
            out = self._first(piece)
        else:
            out = self._units(self._segmenter.push(piece))
        if len(delta) > room and not self.closed:
            out += self._cut()
        return out

    def finish(self) -> list[Sentence]:
        """The response string closed: release the rest (cut if it is too long)."""
        if self.closed:
            return []
        if len(self._text.rstrip()) > self._max:
            return self._cut()
        self.closed = True
        # Nothing released yet: the whole text, exactly as segment() cuts it.
        units = segment(self._text, self._config) if self._probe else self._segmenter.flush()
        return [self._release(self._text, self._text.find(unit, self._released), unit)
                for unit in units]

    def _first(self, piece: str) -> list[Sentence]:
        assert self._probe is not None
        self._probed += self._probe.push(piece)
        # The first unit: sentences up to min_chars visible characters; shorter fragments ("네!")
        # join the sentence after them, as segment() does.
        end = visible = 0
        for unit in self._probed:
            end = self._text.find(unit, end) + len(unit)
            visible += len("".join(unit.split()))
            if visible >= self._config.min_chars:
                break
        else:
            return []
        self._probe = None
        out = self._units([self._text[:end]])
        if not self.closed:
            out += self._units(self._segmenter.push(self._text[end:]))
        return out

    def _units(self, units: list[str]) -> list[Sentence]:
        out: list[Sentence] = []
        for unit in units:
            start = self._text.find(unit, self._released)
            if start + len(unit) > self._max:
                return out + self._cut()
            out.append(self._release(self._text, start, unit))
        return out

    def _cut(self) -> list[Sentence]:
        self.closed = self.cut = True
        kept, _ = cut_at_sentence(self._text.rstrip(), self._max)
        if len(kept) <= self._released or not kept.startswith(self._text[: self._released]):
            return []  # what was already said stays; nothing more fits
        out: list[Sentence] = []
        for unit in segment(kept[self._released :], self._config):
            out.append(self._release(kept, kept.find(unit, self._released), unit))
        return out

    def _release(self, source: str, start: int, unit: str) -> Sentence:
        separator = source[self._released : start] if self._shown else ""
        self._released = start + len(unit)
        text, masked = self._filter.apply(_whole_characters(unit))
        self.masked = self.masked or masked
        spoken = spoken_text(text)
        self._shown.append(separator + text)
        if spoken:
            self._spoken.append(spoken)
        return Sentence(self.shown, spoken, text)
