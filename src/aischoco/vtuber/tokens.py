"""The VTube Studio plugin token at VTS_TOKEN_PATH: plain text, written atomically with mode 0600."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

_IS_WINDOWS = os.name == "nt"
MAX_TOKEN_CHARS = 1024


class TokenStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load(self) -> str | None:
        """The saved token, or None (no file, empty, unreadable or absurd: ask for a new one)."""
        try:
            token = self.path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("VTS token file %s cannot be read (%s); a new token will be requested",
                        self.path, exc)
            return None
        if not token or len(token) > MAX_TOKEN_CHARS or not token.isprintable():
            return None
        return token

    def save(self, token: str) -> None:
        """Temp file (created 0600 by mkstemp) + fsync + rename: never a half-written token."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.",
                                   suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(token + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        if not _IS_WINDOWS:
            try:
                os.chmod(self.path, 0o600)
            except OSError:  # a filesystem without POSIX modes
                pass

    def forget(self) -> None:
        """The token was rejected or revoked: drop it so it is not tried again."""
        self.path.unlink(missing_ok=True)

    def stamp(self) -> int | None:
        """Changes when the file is replaced (e.g. by `auth vts` while the daemon waits)."""
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return None
