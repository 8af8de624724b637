"""What the control panel and the HTTP API may ask of the show: the one interface the overlay
server depends on. The show's `Controls` implements it; the server never sees the show's classes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..core.messages import ChatMessage
from .state import Subscription


class Refused(Exception):
    """The request was understood but cannot be done; str() is shown to the streamer as is."""


class VoiceStudioApi(Protocol):
    """The voice sample studio (`/voice`); implemented by the top floor's voice_studio."""

    async def info(self) -> dict[str, Any]:
        """The current sample, backups, scripts to read, what preview/STT can do here."""

    async def add_clip(self, data: bytes) -> dict[str, Any]:
        """A recording or an uploaded file → {"draft": id, "report": levels and advice}."""

    async def draft_from_backup(self, name: str) -> dict[str, Any]: ...

    async def trim(self, draft_id: str, start_s: float, end_s: float) -> dict[str, Any]:
        """A new draft from seconds [start_s, end_s) of one."""

    async def draft_wav(self, draft_id: str) -> bytes:
        """A draft as a WAV file, for the page's player."""

    async def transcribe(self, draft_id: str) -> dict[str, Any]: ...

    async def preview(self, draft_id: str, text: str, sentence: str) -> bytes:
        """`sentence` spoken in the draft's voice: a WAV file."""

    async def save(self, draft_id: str, text: str) -> dict[str, Any]: ...

    def backup_wav(self, name: str) -> Path: ...

    def current_wav(self) -> Path: ...


@runtime_checkable
class PanelApi(Protocol):
    voice_studio: VoiceStudioApi | None  # the /voice page's work (None: not offered)

    # --- reading -------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything the overlay and the panel show (GET /api/state, the SSE snapshot)."""

    def status_view(self) -> dict[str, Any]:
        """state() without the message lists (GET /api/status)."""

    def metrics(self) -> dict[str, Any]: ...

    def subscribe(self) -> Subscription:
        """A queue of every later change, for one SSE client."""

    def unsubscribe(self, sub: Subscription) -> None: ...

    # --- acting --------------------------------------------------------------------------------
    def chat(self, msg: ChatMessage) -> dict[str, Any]:
        """A test chat from the panel or POST /api/chat: shown, filtered, queued."""

    def clear(self) -> None: ...

    def toggle_streamer_chat(self) -> bool: ...

    def set_paused(self, paused: bool | None) -> bool:
        """None toggles; returns the new state."""

    def skip(self) -> bool: ...

    def set_vision(self, enabled: bool) -> bool:
        """Vision capture on or off (stays off when VISION=off); returns the new state."""

    def vision_frame(self) -> bytes | None:
        """The last frame the vision model got, as a small JPEG (memory only), or None."""

    def settings_view(self) -> dict[str, Any] | None:
        """Every setting, grouped, secrets masked (None: the daemon runs without an env file)."""

    def save_settings(self, values: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body): 422 with per-key errors and nothing written, or saved."""

    async def test_setting(self, what: str) -> dict[str, Any]:
        """The settings page's 테스트 buttons: {"level", "detail", "todo"} of one check."""

    def chzzk_login_start(self) -> tuple[str | None, str]:
        """(the CHZZK authorize URL to send the browser to, or None; and why not)."""

    async def chzzk_login_complete(self, query: dict[str, str]) -> tuple[bool, str]:
        """CHZZK's redirect back: (logged in?, a line for the streamer)."""

    def chzzk_logout(self) -> bool: ...

    async def devices(self) -> dict[str, Any]:
        """{"outputs", "inputs", "recommended_output", "error"}: the pickers' choices."""

    def set_idle_talk(self, enabled: bool) -> bool:
        """Idle talk on or off (it stays off when IDLE_TALK_AFTER_S=0); returns the new state."""

    # --- viewer memory (disabled: lookups say so, changes do nothing) --------------------------
    async def memory_lookup(self, who: str | None) -> dict[str, Any]:
        """{"enabled", "viewers": [card...]}: who (user id or nickname), else the regulars."""

    async def memory_forget(self, who: str) -> int: ...

    async def memory_delete_fact(self, fact_id: int) -> bool: ...
