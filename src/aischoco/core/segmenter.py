"""Split LLM answers into sentence-sized TTS units (Korean, English and mixed text).

TTS sounds best and starts soonest when it gets one natural sentence at a time. ``split_spans``
decides where sentences end, ``segment`` turns that into TTS strings, and ``SentenceSegmenter``
does the same over a token stream, releasing a sentence only once no later text can move its
boundaries, so streaming and whole-text segmentation always give the same units.

Pure functions: no I/O, no logging, no mutable module state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

__all__ = ["DEFAULT_CONFIG", "SegmenterConfig", "SentenceSegmenter", "segment", "split_spans"]

_COMMAS = ",、，"
_QUOTE_OPEN = '"“「『‘'
_QUOTE_CLOSE = '"”」』’'  # same order as _QUOTE_OPEN; "'" is left out on purpose (don't, it's)
# A quotation longer than this is not protected, so one stray quote cannot block all splitting.
_MAX_QUOTE_LEN = 200
# Characters at the very end of a URL that end the sentence instead ("see https://x.com.").
_URL_TRAIL = '.!?…~。！？"”’」』)]' + _COMMAS

# Things that can end a sentence. Every branch is a plain run or literal, so matching is linear.
_MARKER_RE = re.compile(
    r"[.!?…~。！？]+[\"”’」』)\]]*"  # terminator run ("?!", "...", "~~") + closing quotes/brackets
    r"|[ㅋㅎㅠㅜ]{2,}"  # laughter / crying
    r"|\^_?\^|>_?<|T_T|:[()D]"  # ASCII emoticons
    r"|\n"
)
# Spans that never host a break. The lookbehinds anchor each match at the start of its run, which
# keeps finditer linear on long unbroken runs.
_PROTECTED_RE = re.compile(
    r"(?<![\w.])(?:https?://|www\.)\S+"  # URL, up to the next whitespace
    r"|(?<!\d)\d+(?:[.,]\d+)+"  # 3.5, 1,000.5, v1.2.3
    r"|(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+",  # e-mail
    re.IGNORECASE,
)
_QUOTE_OPEN_RE = re.compile("[" + re.escape(_QUOTE_OPEN) + "]")
_SPACES_RE = re.compile(r"\s*")
_UP_TO_LAST_SPACE_RE = re.compile(r".*\s", re.DOTALL)
# Streaming re-analyses the whole pending buffer on every push. Past this size (a run-on sentence
# with no boundary yet) it waits until the buffer has grown by 1/8, keeping the total work linear.
_EAGER_BUFFER_CHARS = 512


@dataclass(frozen=True, slots=True)
class SegmenterConfig:
    """Unit size limits; both count characters.

    ``min_chars``: a fragment with fewer non-space characters is merged into the next one (the last
    fragment into the previous one), so TTS does not get a stream of tiny clips like "네!".
    ``max_chars``: a unit longer than this (measured after strip) is split at the last allowed
    comma, else the last allowed whitespace, that keeps the first piece within the limit;
    0 disables.
    """

    min_chars: int = 10
    max_chars: int = 150

    def __post_init__(self) -> None:
        if self.min_chars < 0 or self.max_chars < 0:
            raise ValueError("min_chars and max_chars must be >= 0")


DEFAULT_CONFIG = SegmenterConfig()


def split_spans(text: str, config: SegmenterConfig = DEFAULT_CONFIG) -> list[tuple[int, int]]:
    """Contiguous (start, end) spans that exactly cover text, one per TTS unit.

    The first span starts at 0, each start equals the previous end and the last end is len(text).
    Every span has non-space content: each span after the first starts at a non-space character and
    whitespace between sentences stays with the sentence before it. Empty or all-whitespace text
    gives [].
    """
    if not text or text.isspace():
        return []
    cuts, mask = _sentence_cuts(text, final=True)
    closed, total = _unit_cuts(text, cuts, config.min_chars)
    if closed and total - closed[-1][1] < config.min_chars:
        closed.pop()  # a short last fragment joins the previous unit
    units = [cut for cut, _ in closed]
    if config.max_chars:
        units = _split_long(text, units, mask, config.max_chars)
    edges = [0, *units, len(text)]
    return list(pairwise(edges))


def segment(text: str, config: SegmenterConfig = DEFAULT_CONFIG) -> list[str]:
    """TTS units: the stripped text of each span from split_spans."""
    return [text[start:end].strip() for start, end in split_spans(text, config)]


class SentenceSegmenter:
    """Streaming segment() for LLM token deltas.

    push(delta) returns the units that are now final; flush() returns the rest at end of stream
    and resets the segmenter. For any way of cutting a text into deltas, the concatenated outputs
    equal segment(text). To guarantee that, a finished sentence is held back until the text after
    it already holds min_chars non-space characters (else a short last fragment would still merge
    into it), and text after an unclosed quote is held back until the quote closes or is more than
    200 characters old. Releasing later never changes the units, only their timing.
    """

    __slots__ = ("_buffer", "_config", "_next_check")

    def __init__(self, config: SegmenterConfig = DEFAULT_CONFIG) -> None:
        self._config = config
        self._buffer = ""
        self._next_check = 0

    def push(self, delta: str) -> list[str]:
        self._buffer += delta
        size = len(self._buffer)
        if size > _EAGER_BUFFER_CHARS and size < self._next_check:
            return []
        cut = _stable_cut(self._buffer, self._config)
        if not cut:
            self._next_check = size + size // 8
            return []
        done, self._buffer = self._buffer[:cut], self._buffer[cut:]
        self._next_check = 0
        return segment(done, self._config)

    def flush(self) -> list[str]:
        rest, self._buffer = self._buffer, ""
        self._next_check = 0
        return segment(rest, self._config)


def _stable_cut(text: str, config: SegmenterConfig) -> int:
    """Largest position p such that segment(text + anything) == segment(text[:p]) + segment(rest).

    p must be a unit boundary whose position, and every boundary before it, no future text can
    change, and the text after p must already hold enough non-space characters that it forms a
    unit of its own rather than being merged back. Returns 0 when nothing is final yet.
    """
    cuts, _ = _sentence_cuts(text, final=False)
    closed, total = _unit_cuts(text, cuts, config.min_chars)
    needed = max(config.min_chars, 1)
    for cut, seen in reversed(closed):
        if total - seen >= needed:
            return cut
    return 0


def _sentence_cuts(text: str, *, final: bool) -> tuple[list[int], bytearray]:
    """Sentence boundaries (each moved forward past whitespace) and the protected-char mask.

    With final=False the text is a stream prefix: only boundaries that later text cannot move or
    remove are returned, i.e. those with non-space text after them and before the first quote
    whose pairing is still open.
    """
    n = len(text)
    mask, horizon = _protected_mask(text, final=final)
    last = n - len(text.lstrip())  # a first fragment of pure whitespace is no unit
    cuts: list[int] = []
    for match in _MARKER_RE.finditer(text):
        start, end = match.span()
        if end > horizon:
            break
        if end <= last:  # a newline inside whitespace we already skipped
            continue
        # "a.b", "3.5", "file.txt": a terminator only counts before whitespace.
        if text[start] != "\n" and not (end < n and text[end].isspace()):
            continue
        if mask.find(1, start, end) != -1:
            continue
        cut = _skip_spaces(text, end)
        if cut < n:  # a boundary at the very end splits nothing
            cuts.append(cut)
            last = cut
    return cuts, mask


def _protected_mask(text: str, *, final: bool) -> tuple[bytearray, int]:
    """Mark URLs, numbers, e-mails and quotations; also return the stream horizon.

    The horizon is len(text) when final. For a stream prefix it is the first quote whose partner
    may still arrive, or the start of the trailing non-space run, whose URL extent and quote
    roles can still change; boundaries past it are not final.
    """
    n = len(text)
    mask = bytearray(n)
    for match in _PROTECTED_RE.finditer(text):
        start, end = match.span()
        while end > start and text[end - 1] in _URL_TRAIL:
            end -= 1
        mask[start:end] = b"\x01" * (end - start)

    if final:
        limit = n
    else:
        last_space = _UP_TO_LAST_SPACE_RE.match(text)
        limit = last_space.end() if last_space else 0
    # Pair quotes left to right. An opener without a partner within _MAX_QUOTE_LEN is ignored and
    # scanning goes on after it, so a stray quote cannot flip the pairing of everything after it.
    resume = 0
    for match in _QUOTE_OPEN_RE.finditer(text, 0, limit):
        opener = match.start()
        if opener < resume or mask[opener]:  # inside a quotation or URL
            continue
        closer_char = _QUOTE_CLOSE[_QUOTE_OPEN.index(text[opener])]
        window_end = opener + _MAX_QUOTE_LEN + 2
        closer = text.find(closer_char, opener + 1, window_end)
        while closer != -1 and mask[closer]:
            closer = text.find(closer_char, closer + 1, window_end)
        if not final and (closer >= limit or (closer == -1 and window_end > n)):
            return mask, opener
        if closer != -1:
            mask[opener : closer + 1] = b"\x01" * (closer + 1 - opener)
            resume = closer + 1
    return mask, limit


def _unit_cuts(text: str, cuts: list[int], min_chars: int) -> tuple[list[tuple[int, int]], int]:
    """Cuts that close a unit of at least min_chars non-space characters.

    Each comes with the count of non-space characters before it; also returns the text's total.
    Shorter fragments accumulate into the next one.
    """
    closed: list[tuple[int, int]] = []
    seen = pending = previous = 0
    for cut in cuts:
        count = _visible(text[previous:cut])
        seen += count
        pending += count
        previous = cut
        if pending >= min_chars:
            closed.append((cut, seen))
            pending = 0
    return closed, seen + _visible(text[previous:])


def _split_long(text: str, cuts: list[int], mask: bytearray, max_chars: int) -> list[int]:
    """Add cuts inside units longer than max_chars (after strip), outside protected spans."""
    n = len(text)
    edges = [0, *cuts, n]
    if all(end - start <= max_chars for start, end in pairwise(edges)):
        return cuts
    # last_comma[i] / last_space[i]: the last allowed split character at or before i, else -1.
    last_comma = [-1] * n
    last_space = [-1] * n
    comma = space = -1
    for i, char in enumerate(text):
        if not mask[i]:
            if char in _COMMAS:
                comma = i
            elif char.isspace():
                space = i
        last_comma[i] = comma
        last_space[i] = space

    out: list[int] = []
    for start, end in pairwise(edges):
        body = text[start:end]
        lo = start + len(body) - len(body.lstrip())
        hi = start + len(body.rstrip())
        while hi - lo > max_chars:
            # Keep the comma with the first piece, and never cut off a comma that ends the unit.
            at = last_comma[min(lo + max_chars - 1, hi - 2)]
            if at >= lo:
                piece_end = at + 1
            else:
                at = last_space[min(lo + max_chars, hi - 1)]
                if at <= lo:
                    break  # no allowed split point: keep the long unit whole
                piece_end = at
            lo = _skip_spaces(text, piece_end)
            out.append(lo)
        if end < n:
            out.append(end)
    return out


def _skip_spaces(text: str, pos: int) -> int:
    """Index of the first non-space character at or after pos, or len(text)."""
    match = _SPACES_RE.match(text, pos)
    return match.end() if match else pos


def _visible(text: str) -> int:
    """Number of non-space characters."""
    return len("".join(text.split()))
