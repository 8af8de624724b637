"""Incremental reader for the streamed answer ``{"emotion": "...", "response": "..."}`` (pure).

Groq's JSON mode cannot stream, so a streamed answer is plain text that the prompt asks to be this
object. ``AnswerParser.feed`` takes the text deltas as they arrive and returns what became known:
the emotion the moment its string closes, and the decoded ``response`` text piece by piece.
Escapes (``\\n``, ``\\"``, ``\\uXXXX`` including surrogate pairs) are decoded across delta
boundaries exactly as ``json.loads`` decodes them.

Tolerant where models are sloppy: text before the first ``{`` (a code fence, "Sure!") and after
the closing ``}`` is ignored, keys may come in any order, other keys are skipped (their values
still validated), raw control characters inside strings are kept. Anything else that is not
JSON raises AnswerError at once; ``close()`` raises if the object never completed or had no
string ``response``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import Enum, auto

from .prompts import AnswerError

__all__ = ["AnswerParser", "Fed"]

_WS = " \t\n\r"
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_HEX = frozenset("0123456789abcdefABCDEF")
_PLAIN_RUN = re.compile(r'[^"\\]+')  # string content up to the next quote or escape
_SKIP_RUN = re.compile(r'[^"\\{}\[\],]+')  # skipped-value text without structure
_MAX_SKIPPED_CHARS = 20_000  # a value we do not use; bounded so a runaway answer cannot grow it


@dataclass(frozen=True, slots=True)
class Fed:
    """What one ``feed`` call made known."""

    text: str = ""  # decoded response text from this delta ("" if none)
    emotion: str | None = None  # the emotion value, the moment it closed ("" if not a string)
    response_done: bool = False  # the response string closed in this delta


class _S(Enum):
    SEEK = auto()  # before the object's '{'
    FIRST_KEY = auto()  # after '{': a key or '}'
    KEY = auto()  # after ',': a key
    IN_KEY = auto()
    COLON = auto()
    VALUE = auto()
    IN_VALUE = auto()  # inside the string value of "response" or "emotion"
    SKIP = auto()  # inside a value we do not use
    AFTER_VALUE = auto()  # ',' or '}'
    DONE = auto()  # the object closed; the rest is ignored


class _StringDecoder:
    """One JSON string body, fed in pieces; ``feed`` stops after the closing quote."""

    __slots__ = ("_escape", "_hex", "_high", "closed")

    def __init__(self) -> None:
        self._escape = False  # a backslash was read
        self._hex: str | None = None  # digits of a \u escape so far
        self._high: str | None = None  # a \uD800-\uDBFF escape waiting for its low half
        self.closed = False

    def feed(self, data: str, pos: int, out: list[str]) -> int:
        """Decode from ``data[pos:]`` into ``out``; return the position after what was used."""
        n = len(data)
        while pos < n:
            if self._hex is not None:
                take = min(4 - len(self._hex), n - pos)
                digits = data[pos : pos + take]
                if not all(ch in _HEX for ch in digits):
                    raise AnswerError("model answer has a broken \\u escape")
                self._hex += digits
                pos += take
                if len(self._hex) == 4:
                    self._unicode(int(self._hex, 16), out)
                    self._hex = None
                continue
            ch = data[pos]
            if self._escape:
                self._escape = False
                pos += 1
                if ch == "u":
                    self._hex = ""
                    continue
                if ch not in _ESCAPES:
                    raise AnswerError(f"model answer has an invalid escape \\{ch}")
                self._flush_high(out)
                out.append(_ESCAPES[ch])
                continue
            if ch == "\\":
                self._escape = True
                pos += 1
                continue
            self._flush_high(out)
            if ch == '"':
                self.closed = True
                return pos + 1
            run = _PLAIN_RUN.match(data, pos)
            assert run is not None
            out.append(run.group())
            pos = run.end()
        return pos

    def _unicode(self, code: int, out: list[str]) -> None:
        # As json.loads: a high surrogate escape followed by a low one is one character;
        # a lone half stays a lone half.
        if self._high is not None and 0xDC00 <= code <= 0xDFFF:
            high = ord(self._high)
            out.append(chr(0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00)))
            self._high = None
            return
        self._flush_high(out)
        if 0xD800 <= code <= 0xDBFF:
            self._high = chr(code)
        else:
            out.append(chr(code))

    def _flush_high(self, out: list[str]) -> None:
        if self._high is not None:
            out.append(self._high)
            self._high = None


class _Skipper:
    """A JSON value we do not use: find where it ends, then check it with json.loads."""

    __slots__ = ("_depth", "_escape", "_in_string", "_raw", "_size")

    def __init__(self) -> None:
        self._raw: list[str] = []
        self._size = 0
        self._depth = 0
        self._in_string = False
        self._escape = False

    def feed(self, data: str, pos: int) -> tuple[int, bool]:
        """(position reached, whether the value ended there: data[pos] is its ',' or '}')."""
        n = len(data)
        start = pos
        ended = False
        while pos < n:
            ch = data[pos]
            if self._in_string:
                if self._escape:
                    self._escape = False
                elif ch == "\\":
                    self._escape = True
                elif ch == '"':
                    self._in_string = False
                pos += 1
                continue
            if ch == '"':
                self._in_string = True
            elif ch in "{[":
                self._depth += 1
            elif ch in "}]":
                if self._depth == 0:
                    ended = True
                    break
                self._depth -= 1
            elif ch == "," and self._depth == 0:
                ended = True
                break
            else:
                run = _SKIP_RUN.match(data, pos)
                if run is not None:
                    pos = run.end()
                    continue
            pos += 1
        self._size += pos - start
        if self._size > _MAX_SKIPPED_CHARS:
            raise AnswerError("model answer has an oversized extra value")
        self._raw.append(data[start:pos])
        if ended:
            try:
                json.loads("".join(self._raw))
            except ValueError:
                raise AnswerError("model answer is not valid JSON") from None
        return pos, ended


class AnswerParser:
    """Feed text deltas in order; read ``emotion``/``response`` as they become known."""

    def __init__(self) -> None:
        self._state = _S.SEEK
        self._key: list[str] = []
        self._key_decoder = _StringDecoder()
        self._target = ""  # key whose string value is being read: "response" or "emotion"
        self._decoder = _StringDecoder()
        self._emotion_parts: list[str] = []
        self._skipper = _Skipper()
        self._seen: set[str] = set()
        self._response: list[str] = []
        self.emotion: str | None = None  # raw value ("" when not a string); None: not yet seen
        self.response_done = False

    @property
    def complete(self) -> bool:
        """The object closed (everything after it is ignored)."""
        return self._state is _S.DONE

    @property
    def response(self) -> str:
        """The decoded response text so far."""
        return "".join(self._response)

    def feed(self, delta: str) -> Fed:
        text: list[str] = []
        emotion: str | None = None
        response_done = False
        pos, n = 0, len(delta)
        while pos < n and self._state is not _S.DONE:
            state = self._state
            if state is _S.IN_VALUE:
                if self._target == "response":
                    pos = self._decoder.feed(delta, pos, text)
                    if self._decoder.closed:
                        response_done = self.response_done = True
                        self._state = _S.AFTER_VALUE
                else:
                    pos = self._decoder.feed(delta, pos, self._emotion_parts)
                    if self._decoder.closed:
                        emotion = self.emotion = "".join(self._emotion_parts)
                        self._state = _S.AFTER_VALUE
                continue
            if state is _S.IN_KEY:
                pos = self._key_decoder.feed(delta, pos, self._key)
                if self._key_decoder.closed:
                    self._state = _S.COLON
                continue
            if state is _S.SKIP:
                pos, ended = self._skipper.feed(delta, pos)
                if ended:
                    if self._target == "emotion":
                        emotion = self.emotion = ""
                    self._state = _S.AFTER_VALUE
                continue
            ch = delta[pos]
            pos += 1
            if state is _S.SEEK:
                if ch == "{":
                    self._state = _S.FIRST_KEY
                continue
            if ch in _WS:
                continue
            if state in (_S.FIRST_KEY, _S.KEY):
                if ch == '"':
                    self._key = []
                    self._key_decoder = _StringDecoder()
                    self._state = _S.IN_KEY
                elif ch == "}" and state is _S.FIRST_KEY:
                    self._state = _S.DONE
                else:
                    raise AnswerError("model answer is not valid JSON (expected a key)")
            elif state is _S.COLON:
                if ch != ":":
                    raise AnswerError("model answer is not valid JSON (expected ':')")
                self._state = _S.VALUE
            elif state is _S.VALUE:
                self._start_value(ch)
                if self._state is _S.SKIP:
                    pos -= 1  # the skipper reads the value from its first character
            elif state is _S.AFTER_VALUE:
                if ch == ",":
                    self._state = _S.KEY
                elif ch == "}":
                    self._state = _S.DONE
                else:
                    raise AnswerError("model answer is not valid JSON (expected ',' or '}')")
        piece = "".join(text)
        if piece:
            self._response.append(piece)
        return Fed(piece, emotion, response_done)

    def close(self) -> None:
        """The stream ended: raise AnswerError unless a whole object with a response was read."""
        if self._state is not _S.DONE:
            raise AnswerError("model answer ended before its JSON object was complete")
        if "response" not in self._seen:
            raise AnswerError("model answer has no string 'response'")

    def _start_value(self, ch: str) -> None:
        key = "".join(self._key)
        if key == "response" and key in self._seen:
            # Already spoken from the first one; json.loads would keep the last.
            raise AnswerError("model answer has two 'response' keys")
        self._seen.add(key)
        if key in ("response", "emotion"):
            self._target = key
            if ch == '"':
                self._decoder = _StringDecoder()
                self._emotion_parts = []
                self._state = _S.IN_VALUE
                return
            if key == "response":
                raise AnswerError("model answer has no string 'response'")
        else:
            self._target = ""
        self._skipper = _Skipper()
        self._state = _S.SKIP
