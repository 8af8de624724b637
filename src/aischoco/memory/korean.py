"""Search terms for Korean chat (pure): character bigrams of Hangul, whole words otherwise.

Why bigrams: SQLite's trigram tokenizer cannot match a query shorter than three characters, and
the nouns viewers talk about are mostly two syllables (나비, 게임, 라면). Word-level tokens fail the
other way: particles change the end of every word (고양이는 / 고양이가 / 고양이를), so the same
noun is a different token each time. Every bigram of 고양이는 (고양 양이 이는) is shared with
고양이가 (고양 양이 이가), so both match, and a two-syllable noun is exactly one bigram.
A one-syllable word (집, 밥) is kept whole so it can be found at all.

The terms are stored space-separated in an FTS5 table whose tokenizer splits on ASCII
separators only, so each term here is exactly one FTS token. The store deletes index rows by
deriving the terms again from the stored text: any change to the scheme must bump TERMS_VERSION
(the store then rebuilds its index).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence

TERMS_VERSION = 1
MAX_TERMS = 4000  # a 10 KB message stays a bounded index row
MAX_TERM_CHARS = 64  # a 10 KB run of latin letters is one term; keep it a sane size

# The bigrams of the commonest polite endings: in a query they say nothing about the topic.
ENDINGS = frozenset("어요 아요 해요 워요 예요 에요 세요 네요 죠요 니다 습니 합니 는데 지만 어서 아서 "
                    "었어 았어 했어 할게 게요 래요 나요 까요".split())
_WORD = re.compile(r"[^\W_]+")  # letters and digits; everything else separates words
# A word splits into runs of Hangul syllables, of jamo (ㅋㅋ, ㅠㅠ: NFKC makes them conjoining
# jamo) and of anything else (latin, digits), so 게임ㅋㅋ gives 게임 and ᄏᄏ, never 임ᄏ.
_SYLLABLES = "\uac00-\ud7a3"
_JAMO = "\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\ud7b0-\ud7ff"
_RUNS = re.compile(rf"([{_SYLLABLES}]+)|([{_JAMO}]+)|([^{_SYLLABLES}{_JAMO}]+)")


def _words(text: str) -> Iterator[str]:
    return (m.group() for m in _WORD.finditer(unicodedata.normalize("NFKC", text).casefold()))


def _word_terms(word: str) -> Iterator[str]:
    for run in _RUNS.finditer(word):
        part = run.group()
        if run.lastindex == 3:  # not Hangul: the word itself
            yield part[:MAX_TERM_CHARS]
        elif len(part) == 1:
            yield part
        else:
            for i in range(len(part) - 1):
                yield part[i:i + 2]


def _terms(text: str) -> Iterator[str]:
    for word in _words(text):
        yield from _word_terms(word)


def index_terms(text: str) -> str:
    """The space-joined terms stored in the full-text index for `text` (at most MAX_TERMS)."""
    out: list[str] = []
    for term in _terms(text):
        out.append(term)
        if len(out) >= MAX_TERMS:
            break
    return " ".join(out)


def query_terms(text: str, limit: int = 32) -> list[str]:
    """The distinct terms of a query, in order of appearance, at most `limit`.

    One-syllable Hangul words (잘, 또, 좀, 집) and polite sentence endings (어요, 해요, 니다…)
    count only when the query has nothing else: in a sentence they are adverbs and endings,
    and in a small or fresh memory they would outrank the nouns (measured: "나비 잘 있어요?"
    found "잘 자요" and "방송 재밌어요" before the message about 나비)."""
    seen: dict[str, None] = {}
    for term in _terms(text):
        if len(seen) >= limit:
            break
        seen.setdefault(term, None)
    terms = list(seen)
    content = [t for t in terms if t not in ENDINGS and not _is_syllable(t)]
    return content if content else terms


def _is_syllable(term: str) -> bool:
    return len(term) == 1 and "\uac00" <= term <= "\ud7a3"


def match_expression(terms: Sequence[str]) -> str:
    """An FTS5 MATCH string: the terms OR-ed, each a quoted string, so that nothing a viewer
    typed (quotes, *, NEAR(, OR, -, :, ^, parentheses) is ever parsed as query syntax."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms if term)
