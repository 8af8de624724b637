"""Offline token counting for gpt-oss (tiktoken's `o200k_harmony` encoding).

tiktoken downloads its vocabulary on first use; the daemon must work with no network, so the
o200k_base ranks ship inside the package (`data/o200k_base.tiktoken`) and the harmony encoding is
built here from them. The file's sha256 is checked at load, the same value tiktoken expects.

Viewer text is untrusted and may contain strings such as "<|start|>": counting always treats
them as ordinary text (`encode_ordinary`), never as special tokens.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # tiktoken is imported lazily: modules that only need the protocol stay light
    import tiktoken

ENCODING_NAME = "o200k_harmony"
VOCAB_PATH = Path(__file__).parent / "data" / "o200k_base.tiktoken"
# tiktoken_ext/openai_public.py: o200k_base(expected_hash=...)
O200K_BASE_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"

# Harmony frames every chat message as `<|start|>{role}<|message|>{content}<|end|>`:
# three special tokens plus one token for the role name ("user", "assistant", "system").
MESSAGE_OVERHEAD_TOKENS = 4

# Copied from tiktoken_ext.openai_public (o200k_base / o200k_harmony); calling those functions
# would fetch the vocabulary by URL. tests/test_tokens.py checks these stay identical.
O200K_PAT_STR = "|".join(  # noqa: FLY002 -- kept in tiktoken's form, for comparison
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
HARMONY_SPECIAL_TOKENS: dict[str, int] = {
    "<|endoftext|>": 199999,
    "<|endofprompt|>": 200018,
    "<|startoftext|>": 199998,
    "<|reserved_200000|>": 200000,
    "<|reserved_200001|>": 200001,
    "<|return|>": 200002,
    "<|constrain|>": 200003,
    "<|reserved_200004|>": 200004,
    "<|channel|>": 200005,
    "<|start|>": 200006,
    "<|end|>": 200007,
    "<|message|>": 200008,
    "<|reserved_200009|>": 200009,
    "<|reserved_200010|>": 200010,
    "<|reserved_200011|>": 200011,
    "<|call|>": 200012,
} | {f"<|reserved_{i}|>": i for i in range(200013, 201088)}


class VocabularyError(RuntimeError):
    """The shipped vocabulary file is missing or corrupt; str() says which file and what to do."""


class TokenCounter(Protocol):
    @property
    def name(self) -> str:
        """Encoding name; stored token counts are reused only when it matches."""
        ...

    def count(self, text: str) -> int: ...


@dataclass(frozen=True, slots=True)
class TiktokenCounter:
    encoding: tiktoken.Encoding

    @property
    def name(self) -> str:
        return self.encoding.name

    def count(self, text: str) -> int:
        return len(self.encoding.encode_ordinary(text))


def read_ranks(path: Path = VOCAB_PATH,
               expected_sha256: str = O200K_BASE_SHA256) -> dict[bytes, int]:
    """Parse a `.tiktoken` file (`base64-token rank` per line) after checking its sha256."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise VocabularyError(
            f"token vocabulary {path} cannot be read ({err.strerror or err}); "
            "reinstall aischoco (pip install -e .)"
        ) from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha256:
        raise VocabularyError(
            f"token vocabulary {path} is corrupt (sha256 {actual[:12]}…, "
            f"expected {expected_sha256[:12]}…); reinstall aischoco (pip install -e .)"
        )
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def build_encoding(path: Path = VOCAB_PATH) -> tiktoken.Encoding:
    """o200k_harmony from the shipped ranks; no network, no tiktoken cache directory."""
    import tiktoken

    return tiktoken.Encoding(
        name=ENCODING_NAME,
        pat_str=O200K_PAT_STR,
        mergeable_ranks=read_ranks(path),
        special_tokens=HARMONY_SPECIAL_TOKENS,
    )


@functools.lru_cache(maxsize=1)
def load_counter() -> TiktokenCounter:
    """The process-wide counter (building it parses 200k ranks, ~0.5 s: do it once)."""
    return TiktokenCounter(build_encoding())


def message_tokens(role: str, content: str, counter: TokenCounter | None = None) -> int:
    """Tokens one chat message costs in a request: its content plus the harmony framing.

    `role` does not change the count today (every role name is one token); it is part of the
    rule so callers state what they are counting.
    """
    del role
    return (counter or load_counter()).count(content) + MESSAGE_OVERHEAD_TOKENS
