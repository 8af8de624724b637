"""Which transcripts become a turn (pure rules, no I/O).

Whisper-family models, given silence, noise or breath, write text that was never said: the
closing lines of the YouTube and broadcast subtitles they were trained on ("시청해 주셔서
감사합니다", "MBC 뉴스 ○○○입니다", "자막 제공: …"). The VAD already keeps most silence away; these
rules catch what slips through, so the AI never answers a phantom "감사합니다.".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .stt import Transcript

# Whole transcripts that are, in practice, hallucinations on non-speech (compared without
# spaces and punctuation, case-folded).
SILENCE_PHRASES = frozenset((
    "감사합니다", "고맙습니다", "시청해주셔서감사합니다", "시청해주셔서고맙습니다",
    "구독과좋아요부탁드립니다", "구독과좋아요알림설정부탁드립니다", "좋아요와구독부탁드립니다",
    "다음영상에서만나요", "다음시간에만나요", "끝", "네", "음", "아", "어",
    "thankyou", "thanksforwatching", "thankyouforwatching", "you", "bye",
    "ご視聴ありがとうございました", "字幕由amaraorg社区提供",
))
# Fragments that only appear in subtitle credits and news sign-offs.
CREDIT_PATTERNS = (
    re.compile(r"자막\s*(제공|제작|by|:)", re.IGNORECASE),
    re.compile(r"(한글|한국어)\s*자막"),
    re.compile(r"mbc\s*뉴스", re.IGNORECASE),
    re.compile(r"(kbs|sbs|ytn|jtbc)\s*뉴스\s*\S*입니다", re.IGNORECASE),
    re.compile(r"amara\.org", re.IGNORECASE),
)
# A phrase repeated this often in a row is a decoding loop, not speech.
MAX_REPEATS = 4
_REPEAT = re.compile(r"(.{1,20}?)(?:\s*\1){%d,}" % MAX_REPEATS, re.DOTALL)


@dataclass(frozen=True, slots=True)
class TranscriptRules:
    max_no_speech_prob: float = 0.6  # engines that report it (local Whisper)
    max_chars: int = 500  # a runaway transcript is cut, not dropped


def _compact(text: str) -> str:
    return "".join(ch for ch in text.casefold()
                   if not unicodedata.category(ch).startswith(("P", "Z", "S", "C")))


def screen(transcript: Transcript, rules: TranscriptRules = TranscriptRules()) -> tuple[str, str]:
    """(text to answer, "") or ("", why it was dropped)."""
    text = " ".join(transcript.text.split())
    compact = _compact(text)
    if not compact:
        return "", "empty"
    prob = transcript.no_speech_prob
    if prob is not None and prob > rules.max_no_speech_prob:
        return "", "no_speech"
    if compact in SILENCE_PHRASES:
        return "", "silence_phrase"
    if any(p.search(text) for p in CREDIT_PATTERNS):
        return "", "subtitle_credit"
    if _REPEAT.fullmatch(compact):
        return "", "repetition"
    if len(text) > rules.max_chars:
        text = text[: rules.max_chars - 1] + "…"
    return text, ""
