"""Text safety for hostile viewer text: cleaning for the LLM, visible length, truncation,
normalisation and evasion-resistant banned-word matching (pure; `load_banned_words` reads a file).

Viewer text is hostile (Zalgo floods, bidi overrides, zero-width evasion of banned words, 100 KB
pastes), so the hot paths are C-level regex passes built only from single character classes:
linear time, nothing to backtrack into.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "clean_for_llm",
    "contains_banned",
    "contains_normalized",
    "has_char_run",
    "is_too_short",
    "load_banned_words",
    "mask_banned",
    "normalize_for_matching",
    "normalize_words",
    "truncate",
]

_ELLIPSIS = "…"
_ZWJ = "\u200d"
_VS16 = "\ufe0f"
_MAX_MARKS_PER_BASE = 2
# Invisible "letters" (Lo/So, so neither whitespace nor Cf) that Korean chat uses to send blank
# looking messages or to split words: Hangul fillers and the blank braille pattern.
_BLANKS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# --------------------------------------------------------------------------------------------
# Character classes (built once at import; `re` has no \p{..} classes)
# --------------------------------------------------------------------------------------------


def _char_class(codepoints: Sequence[int]) -> str:
    """A regex character-class body matching exactly ``codepoints``, compressed into ranges."""
    cps = sorted(set(codepoints))
    parts: list[str] = []
    i = 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        lo, hi = cps[i], cps[j]
        parts.append(f"\\U{lo:08x}" if lo == hi else f"\\U{lo:08x}-\\U{hi:08x}")
        i = j + 1
    return "".join(parts)


def _set_re(codepoints: Sequence[int]) -> str:
    """A regex group matching one char of ``codepoints``, fast for every input char.

    `re` compiles a class holding non-BMP chars into a list of ranges scanned one by one for every
    input char (~0.4 µs/char for the mark classes). Splitting off the BMP part keeps it a bitmap,
    and a cheap lookahead on each plane's span only lets plausible astral chars reach the ranges.
    """
    bmp = [cp for cp in codepoints if cp < 0x10000]
    astral = [cp for cp in codepoints if cp >= 0x10000]
    alternatives = [f"[{_char_class(bmp)}]"] if bmp else []
    if astral:
        spans: dict[int, tuple[int, int]] = {}
        for cp in astral:
            lo, hi = spans.get(cp >> 16, (cp, cp))
            spans[cp >> 16] = (min(lo, cp), max(hi, cp))
        guard = "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in spans.values())
        alternatives.append(f"(?=[{guard}])[{_char_class(astral)}]")
    return "(?:" + "|".join(alternatives) + ")"


def _scan_categories() -> dict[str, list[int]]:
    # Cc/Cf/Cs/M* only occur in planes 0, 1 and 14; scanning just those costs ~30 ms once.
    found: dict[str, list[int]] = {cat: [] for cat in ("Cc", "Cf", "Cs", "Mn", "Me", "Mc")}
    for lo, hi in ((0x0, 0x20000), (0xE0000, 0xE1000)):
        cats = map(unicodedata.category, map(chr, range(lo, hi)))
        for cp, cat in zip(range(lo, hi), cats, strict=True):
            if cat in found:
                found[cat].append(cp)
    found["space"] = [cp for cp in range(0x10000) if chr(cp).isspace() or chr(cp) in _BLANKS]
    return found


def _build_patterns() -> tuple[re.Pattern[str], ...]:
    cats = _scan_categories()
    space = cats["space"]  # \s plus the blank fillers; \n, \t ... are in here, so become spaces
    controls = [cp for cp in cats["Cc"] if cp not in space]
    formats = [cp for cp in cats["Cf"] if cp != ord(_ZWJ)]  # ZWJ is decided in context
    marks = _set_re(cats["Mn"] + cats["Me"])
    glued = [*range(0x1160, 0x1200), *range(0xD7B0, 0xD800)]  # Hangul vowels/finals
    glued += [ord(_ZWJ), *range(0x1F3FB, 0x1F400), *range(0xE0020, 0xE0080)]  # joiner, skin, tags
    return (
        re.compile(_set_re(controls + cats["Cs"] + formats) + "+"),
        re.compile(f"({marks}{{{_MAX_MARKS_PER_BASE}}}){marks}+"),
        re.compile(_set_re(space) + "+"),
        re.compile(_set_re(space + cats["Cc"] + cats["Cs"] + cats["Cf"]) + "+"),
        # Not a visible character of its own: spaces, marks, joiners, skin tones, emoji tags.
        re.compile(_set_re(space + cats["Mn"] + cats["Me"] + cats["Mc"] + glued) + "+"),
    )


_DROP_RE, _MARK_FLOOD_RE, _SPACE_RE, _IGNORABLE_RE, _NON_VISIBLE_RE = _build_patterns()
_ZWJ_RE = re.compile(_ZWJ)
# `(.)\1{k}\1*` matches each run of more than k equal chars once; a shorter run fails after < k
# steps per start, so with k <= 8 the scan stays linear whatever limit is configured.
_RUN_RES = tuple(re.compile(rf"(.)\1{{{k}}}\1*", re.DOTALL) for k in range(9))


def _is_ignorable(ch: str) -> bool:
    """Per-char twin of _IGNORABLE_RE: whitespace, blanks, controls, format chars, surrogates."""
    return ch.isspace() or ch in _BLANKS or unicodedata.category(ch) in ("Cc", "Cf", "Cs")


def _is_emojiish(ch: str) -> bool:
    """Left side of a ZWJ emoji sequence: a symbol, VS16 or a skin-tone modifier."""
    return unicodedata.category(ch) == "So" or ch == _VS16 or "\U0001f3fb" <= ch <= "\U0001f3ff"


def _is_hangul_vt(ch: str) -> bool:
    return "\u1160" <= ch <= "\u11ff" or "\ud7b0" <= ch <= "\ud7ff"


def _is_regional_indicator(ch: str) -> bool:
    return "\U0001f1e6" <= ch <= "\U0001f1ff"


def _is_continuation(text: str, i: int) -> bool:
    """True if ``text[i]`` must stay glued to ``text[i - 1]`` (cutting before it splits a glyph)."""
    if i <= 0 or i >= len(text):
        return False
    ch, prev = text[i], text[i - 1]
    if unicodedata.category(ch)[0] == "M" or unicodedata.combining(ch):
        return True
    if ch == _ZWJ or prev == _ZWJ or _is_hangul_vt(ch):
        return True
    if "\U0001f3fb" <= ch <= "\U0001f3ff" or "\U000e0020" <= ch <= "\U000e007f":  # skin tone, tags
        return True
    if "\udc00" <= ch <= "\udfff" and "\ud800" <= prev <= "\udbff":  # halves of a surrogate pair
        return True
    if _is_regional_indicator(ch):
        # Flags are pairs of regional indicators: the 2nd, 4th, ... of a run close a pair.
        run = 0
        j = i - 1
        while j >= 0 and _is_regional_indicator(text[j]):
            run += 1
            j -= 1
        return run % 2 == 1
    return False


# --------------------------------------------------------------------------------------------
# Cleaning, length and truncation
# --------------------------------------------------------------------------------------------


def _keep_zwj(match: re.Match[str]) -> str:
    text, i = match.string, match.start()
    keep = (
        0 < i < len(text) - 1
        and _is_emojiish(text[i - 1])
        and unicodedata.category(text[i + 1]) == "So"
    )
    return _ZWJ if keep else ""


def clean_for_llm(text: str) -> str:
    """Make hostile viewer text safe and compact for the LLM (linear time).

    - whitespace controls (``\\n``, ``\\t``, ...) and blank fillers become a space; other controls
      (Cc), lone surrogates and format chars (Cf: zero-width, bidi overrides, ...) are removed,
      except a ZWJ between two emoji so 👩‍💻 stays one emoji;
    - runs of combining marks are capped at 2 per base character (Zalgo floods);
    - whitespace is collapsed to single spaces and the result is stripped.

    HTML is not escaped: that is the overlay's job, and the LLM should see what was typed.
    """
    if text.isascii() and text.isprintable():  # fast path for the common plain-ASCII chat line
        return " ".join(text.split())
    text = _DROP_RE.sub("", text)
    if _ZWJ in text:
        text = _ZWJ_RE.sub(_keep_zwj, text)
    text = _MARK_FLOOD_RE.sub(r"\1", text)  # after dropping Cf, so ZWSP can't split a flood
    return _SPACE_RE.sub(" ", text).strip(" ")


def _visible_length(cleaned: str) -> int:
    """Non-whitespace characters, not counting marks, joiners and modifiers glued to a base."""
    return len(_NON_VISIBLE_RE.sub("", cleaned))


def is_too_short(cleaned: str, min_length: int) -> bool:
    # A short prefix almost always settles it; only glyph-heavy text needs the full scan.
    prefix = cleaned[: 4 * min_length + 16]
    return _visible_length(prefix) < min_length and _visible_length(cleaned) < min_length


def has_char_run(text: str, limit: int) -> bool:
    """True if one character repeats consecutively more than ``limit`` times."""
    pattern = _RUN_RES[min(limit, len(_RUN_RES) - 1)]
    return any(len(m.group()) > limit for m in pattern.finditer(text))


def truncate(text: str, max_length: int) -> tuple[str, bool]:
    """Cut ``text`` so the result, including the appended "…", has at most ``max_length`` chars.

    Prefers a whitespace boundary within the last 20% of the budget; otherwise cuts hard, moving
    back so no surrogate pair, combining sequence, ZWJ emoji, skin tone or flag is split. Returns
    ``(text, truncated)``.
    """
    if max_length < 1:
        raise ValueError("max_length must be >= 1")
    if len(text) <= max_length:
        return text, False
    budget = max_length - 1  # room for the ellipsis
    # Whitespace at index `budget` itself is a perfect boundary: text[:budget] ends a word.
    for j in range(budget, max(budget - budget // 5, 1) - 1, -1):
        if text[j].isspace() and not _is_continuation(text, j):
            head = text[:j].rstrip()
            if head:
                return head + _ELLIPSIS, True
            break
    cut = budget
    while cut > 0 and _is_continuation(text, cut):
        cut -= 1
    # If one giant cluster fills the whole budget, return just the ellipsis rather than split it.
    return text[:cut].rstrip() + _ELLIPSIS, True


# --------------------------------------------------------------------------------------------
# Normalisation and banned words
# --------------------------------------------------------------------------------------------


def normalize_for_matching(text: str) -> str:
    """Matching form: NFKC + casefold, without whitespace, blanks, controls or format chars.

    Invisible chars go *before* NFKC so ``ᄇ\\u200bᅡ`` composes like ``바``; NFKC runs again
    after casefold (which can un-normalise), and once more after removing what NFKC turned into
    whitespace (``¨`` → `` ̈``), so the result is stable.
    """
    text = _IGNORABLE_RE.sub("", text)
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return unicodedata.normalize("NFKC", _IGNORABLE_RE.sub("", text))


def _attaches(ch: str) -> bool:
    # Chars that always belong to the preceding base for normalisation purposes.
    if unicodedata.combining(ch) or _is_hangul_vt(ch):
        return True
    return unicodedata.category(ch)[0] == "M"


def _normalize_mapped(text: str) -> tuple[str, list[int], list[list[int]]]:
    """:func:`normalize_for_matching` that remembers where each output char came from (for masking).

    Returns ``(normalised, owner, clusters)``: ``normalised[k]`` came from cluster ``owner[k]``
    and ``clusters[c]`` lists the original indices of that cluster's visible chars. Each cluster
    is normalised on its own; a cluster is merged into the previous one when normalising them
    together differs (e.g. compatibility jamo ``ㅂㅏ`` → ``바``), so the concatenation equals
    ``normalize_for_matching(text)``. Each boundary is checked against the previous base only: linear time.
    """
    bases: list[list[int]] = []  # a base char plus the chars that attach to it
    for i, ch in enumerate(text):
        if _is_ignorable(ch):
            continue
        if bases and _attaches(ch):
            bases[-1].append(i)
        else:
            bases.append([i])

    cache: dict[str, str] = {}  # floods repeat the same few clusters; local, so nothing is global

    def fold(s: str) -> str:
        folded = cache.get(s)
        if folded is None:
            folded = cache[s] = normalize_for_matching(s)
        return folded

    clusters: list[list[int]] = []
    raws: list[str] = []
    prev_base = ""
    for indices in bases:
        raw = "".join(text[i] for i in indices)
        if clusters and fold(prev_base + raw) != fold(prev_base) + fold(raw):
            clusters[-1].extend(indices)
            raws[-1] += raw
        else:
            clusters.append(list(indices))
            raws.append(raw)
        prev_base = raw

    parts: list[str] = []
    owner: list[int] = []
    for c, raw in enumerate(raws):
        folded = fold(raw)
        parts.append(folded)
        owner.extend([c] * len(folded))
    return "".join(parts), owner, clusters


def normalize_words(words: Sequence[str]) -> tuple[str, ...]:
    # A word that normalises to "" (" ", a lone ZWSP) would match every message: skip it.
    return tuple(dict.fromkeys(norm for norm in map(normalize_for_matching, words) if norm))


def contains_normalized(normalized_text: str, normalized_words: Sequence[str]) -> bool:
    return any(word in normalized_text for word in normalized_words)


def contains_banned(text: str, words: Sequence[str]) -> bool:
    """True if any banned word occurs in ``text``, both sides normalised.

    Evasions like ``바 보``, ``바\\u200b보`` or fullwidth ``ＢＡＤ`` match ``바보`` or ``bad``.
    """
    normalized_words = normalize_words(words)
    return bool(normalized_words) and contains_normalized(normalize_for_matching(text), normalized_words)


def mask_banned(text: str, words: Sequence[str]) -> str:
    """Replace each char of ``text`` that formed a banned-word match with ``*`` (for display).

    Works on the original text: whitespace and invisible chars inside a match are left as they
    are, other text is unchanged, and the result has as many characters as ``text``.
    """
    normalized_words = normalize_words(words)
    if not normalized_words or not contains_normalized(normalize_for_matching(text), normalized_words):
        return text  # the mapping below costs a few µs per char; skip it for clean text
    normalized, owner, clusters = _normalize_mapped(text)
    masked: set[int] = set()
    for word in normalized_words:
        start = normalized.find(word)
        while start != -1:
            # A match may begin or end inside a cluster (e.g. a ligature): mask the whole cluster.
            masked.update(range(owner[start], owner[start + len(word) - 1] + 1))
            start = normalized.find(word, start + 1)
    chars = list(text)
    for c in masked:
        for i in clusters[c]:
            chars[i] = "*"
    return "".join(chars)


def load_banned_words(path: str | os.PathLike[str]) -> tuple[str, ...]:
    """Read banned words: UTF-8 (a BOM is tolerated), one per line.

    Blank lines and lines starting with ``#`` (after stripping) are skipped; words are stripped
    and deduplicated keeping the first occurrence. A missing file means no banned words.
    """
    try:
        content = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return ()
    stripped = (line.strip() for line in content.splitlines())
    return tuple(dict.fromkeys(word for word in stripped if word and not word.startswith("#")))
