"""What TTS may say: the answer minus markdown, links, emoji, symbols and jamo laughter (pure).

The overlay shows the model's text as written; only the voice gets this cleaned copy. TTS engines
read "**", "※", "https://..." or "ㅋㅋㅋ" aloud character by character ("키읔키읔"), so they go.
Pure jamo runs (ㅋㅋ, ㅎㅎ, ㅠㅠ, ㄷㄷ, ...) are removed rather than kept: no TTS voice laughs them.

Kept: letters of any script, digits, combining marks, whitespace and a small set of punctuation a
voice can use (. , ! ? ~ … ' " ( ) - : ; % / & + = and curly/corner quotes). Everything else becomes
a space. Every pass is one regex or one character scan without backtracking, so time is linear.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["spoken_text"]

_KEEP_PUNCT = frozenset(".,!?~…'\"()-:;%/&+=“”‘’「」『』·")
# `[label](url)` / `![alt](url)`: the label may not contain '[' so a '['-flood stays linear.
_MD_LINK_RE = re.compile(r"!?\[([^\[\]\n]*)\]\([^()\s]*\)")
# Line-start markdown: headings, quotes, bullets (numbered lists keep their numbers).
_MD_LINE_RE = re.compile(r"^[ \t]*(?:#{1,6}(?=\s|$)|>+|[-*+•◦▪‣](?=\s))", re.MULTILINE)
_JAMO_RE = re.compile(r"[\u3131-\u318e\uffa0-\uffdc]+")
# Anchored on "http" / "www." with no lookbehind, so a URL glued to text still goes.
_URL_RE = re.compile(r"(?:https?://|www\.)\S*", re.IGNORECASE)
# Runs may be spread over spaces where symbols were removed ("!! ** !!"): one run, one mark.
_TERMINAL_RUN_RE = re.compile(r"[.!?…](?:\s*[.!?…])+")
_SAME_RUN_RE = re.compile(r"([,~;\-])\1+")  # not ':', or "http:://" would become a URL
_EMPTY_BRACKETS_RE = re.compile(r"\(\s*\)|“\s*”|\"\s*\"|'\s*'|「\s*」|『\s*』")
# '.' only before a space or the end, so "www .com" never turns back into a URL.
# The lookbehind starts a match only at the head of a space run, keeping long runs linear.
_SPACE_BEFORE_PUNCT_RE = re.compile(r"(?<!\s)\s+([,!?~…]|\.(?=\s|$))")
_LEADING_JUNK = " .,!?~…:;)-/&+=%"


def _keep(ch: str) -> bool:
    if ch in _KEEP_PUNCT:
        return True
    category = unicodedata.category(ch)
    if category[0] in "LN":
        return True
    if category in ("Mn", "Mc"):
        # Variation selectors (U+FE00-FE0F, U+E0100-E01EF) only pick an emoji's look.
        return not ("\ufe00" <= ch <= "\ufe0f" or "\U000e0100" <= ch <= "\U000e01ef")
    return ch.isspace()


def _collapse_terminals(match: re.Match[str]) -> str:
    run = match.group(0)
    if "?" in run and "!" in run:
        return "?!"
    if "?" in run:
        return "?"
    if "!" in run:
        return "!"
    return "…"  # "..", "...", "……"


def spoken_text(text: str) -> str:
    """The part of ``text`` a voice should say; "" when nothing pronounceable is left."""
    text = unicodedata.normalize("NFC", text)  # decomposed (NFD) Hangul would read as jamo
    text = _MD_LINK_RE.sub(r" \1 ", text)
    text = _MD_LINE_RE.sub(" ", text)
    text = _JAMO_RE.sub(" ", text)
    text = "".join(ch if _keep(ch) else " " for ch in text)
    # After every pass that could glue pieces into "http://"; the passes below cannot: they
    # never join across ':' or '/', and only join '.' to text before a space or the end.
    # Runs are collapsed only now, when removed symbols can no longer hide one.
    text = _URL_RE.sub(" ", text)
    text = _EMPTY_BRACKETS_RE.sub(" ", text)
    text = _TERMINAL_RUN_RE.sub(_collapse_terminals, text)
    text = _SPACE_BEFORE_PUNCT_RE.sub(r"\1", text)
    text = _SAME_RUN_RE.sub(r"\1", text)
    text = " ".join(text.split()).lstrip(_LEADING_JUNK)
    if not any(unicodedata.category(ch)[0] in "LN" for ch in text):
        return ""
    return text
