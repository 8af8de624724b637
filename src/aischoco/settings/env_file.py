"""Rewriting a .env file the way a person would (pure, apart from `write_env_file`).

Only the values that change are touched: comments, blank lines, the order, unknown keys, quoting
style of untouched lines and the line endings stay byte for byte. A key that is not in the file
yet is added at the end. Values that need it are double-quoted (python-dotenv reads them back).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from pathlib import Path

from ..core.atomic_file import atomic_write_bytes

_KEY_LINE = re.compile(r"^(?P<lead>\s*(?:export\s+)?)(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*=")
_BARE_OK = re.compile(r"^[A-Za-z0-9_./:@,+\-=%~가-힣ㄱ-ㅎㅏ-ㅣ!]*$")


def quote(value: str) -> str:
    """The value as it should be written after `KEY=`."""
    if "\n" in value or "\r" in value:
        raise ValueError("a setting cannot span lines")
    if _BARE_OK.match(value) and not value.startswith("#"):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def update_env_text(text: str, values: Mapping[str, str | None]) -> str:
    """`text` with each key in `values` set (None: the line removed, i.e. back to the default)."""
    newline = "\r\n" if text.count("\r\n") * 2 > text.count("\n") else "\n"  # the file's own
    lines = text.splitlines(keepends=True)
    pending = dict(values)
    out: list[str] = []
    for line in lines:
        match = _KEY_LINE.match(line)
        key = match.group("key") if match else None
        if key is None or key not in pending:
            out.append(line)
            continue
        value = pending.pop(key)
        if value is None:
            continue
        ending = line[len(line.rstrip("\r\n")):] or newline
        out.append(f"{match.group('lead')}{key}={quote(value)}"
                   f"{_inline_comment(line[match.end():].rstrip(chr(13) + chr(10)))}{ending}")
    added = [f"{key}={quote(value)}{newline}" for key, value in pending.items() if value is not None]
    if added and out and not out[-1].endswith(("\n", "\r")):
        out[-1] += newline
    return "".join(out + added)


def _inline_comment(raw_value: str) -> str:
    """` # note` after an unquoted value (python-dotenv's inline comment), kept on rewrite."""
    stripped = raw_value.lstrip()
    if stripped.startswith(("'", '"')):
        quote_char = stripped[0]
        end = stripped.find(quote_char, 1)
        rest = stripped[end + 1:] if end > 0 else ""
        at = rest.find("#")
        return (" " + rest[at:].rstrip()) if at >= 0 else ""
    match = re.search(r"\s+#", raw_value)
    return raw_value[match.start():].rstrip() if match else ""


def write_env_file(path: Path, values: Mapping[str, str | None]) -> None:
    """Update `path` atomically (mode 0600), keeping the previous version as `.env.bak`."""
    path = Path(path)
    old = path.read_bytes() if path.exists() else b""
    text = update_env_text(old.decode("utf-8-sig"), values)
    if path.exists():
        shutil.copyfile(path, path.with_name(path.name + ".bak"))
    atomic_write_bytes(path, text.encode("utf-8"))
