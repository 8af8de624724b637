"""The daemon's control surface: what the control panel, the HTTP API and the terminal may do.

Implements `overlay.panel_api.PanelApi`, the only view of the show the overlay server has."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..audio.devices import AudioDeviceError, OutputDevice, list_devices
from ..chat.chzzk_web_login import ChzzkWebLogin
from ..core.messages import ChatMessage
from ..core.metrics import LatencyStats
from ..core.status import StatusBoard
from ..memory.component import ViewerMemory
from ..overlay.panel_api import VoiceStudioApi
from ..overlay.state import OverlayState, Subscription
from .director import Director
from .intake import ChatIntake

TEST_SENTENCE = "안녕하세요! 목소리 테스트 중이에요."

if TYPE_CHECKING:  # Pillow loads only when VISION is on
    from ..vision.component import Vision


class SettingsPort(Protocol):
    """The settings page's editor (settings_editor.SettingsEditor, top floor)."""

    def view(self) -> dict[str, Any]: ...

    def save(self, values: dict[str, Any]) -> tuple[int, dict[str, Any]]: ...

    async def test(self, what: str) -> dict[str, Any]: ...


@dataclass(slots=True)
class Controls:
    intake: ChatIntake
    director: Director
    overlay: OverlayState
    status: StatusBoard
    stats: LatencyStats
    llm_info: Callable[[], dict[str, Any]] | None = None  # rate-limit headroom, usage, memory
    listener_info: Callable[[], dict[str, Any]] | None = None  # the mic: utterances, drops, barge-ins
    errors: Callable[[], list[dict[str, Any]]] = list  # the last warnings/errors
    overlay_options: dict[str, Any] | None = None  # fade time etc. for the pages
    memory: ViewerMemory | None = None  # long-term viewer memory (None: MEMORY_ENABLED=false)
    tools_info: Callable[[], dict[str, Any]] | None = None  # tools offered, calls counted
    vision: Vision | None = None  # VISION=obs|screen: the scene notes, the last frame
    settings_editor: SettingsPort | None = None  # the settings page (None: no env file)
    chzzk_login: ChzzkWebLogin | None = None  # the settings page's CHZZK login button
    voice_studio: VoiceStudioApi | None = None  # /voice: record, check and swap the voice sample

    def chat(self, msg: ChatMessage) -> dict[str, Any]:
        verdict = self.intake.accept(msg)
        pending = len(self.director.queue)
        return {"id": msg.message_id, "queued": verdict.accepted,
                "reason": verdict.reason.value if verdict.reason else None,
                "truncated": verdict.truncated, "pending": pending,
                # Whether a queued chat will be answered now, later, or only once a key is set
                "note": self._waiting_note(pending) if verdict.accepted else None}

    def _answering(self) -> str:
        """missing: no LLM at all (no key) · starting: one is loading · ready."""
        runner = self.director.runner
        if runner.ready:
            return "ready"
        return "starting" if runner.llm_configured else "missing"

    def _waiting_note(self, pending: int) -> str | None:
        """The truth about the queue in one Korean line, or None when answers come as usual."""
        state = self._answering()
        if state == "missing":
            return f"답변은 GROQ_API_KEY를 넣으면 시작합니다 · 기다리는 채팅 {pending}개"
        if state == "starting":
            return f"AI 답변 준비 중 — 준비되면 바로 답합니다 · 기다리는 채팅 {pending}개"
        if self.director.paused:
            return f"답변 일시정지 중 — 재개하면 답합니다 · 기다리는 채팅 {pending}개"
        return None

    def clear(self) -> None:
        self.overlay.clear()

    def toggle_streamer_chat(self) -> bool:
        hide = not self.intake.hide_streamer_chat
        self.intake.set_hide_streamer_chat(hide)
        return hide

    def set_paused(self, paused: bool | None) -> bool:
        """None toggles."""
        self.director.set_paused(not self.director.paused if paused is None else paused)
        return self.director.paused

    def skip(self) -> bool:
        return self.director.skip()

    def set_idle_talk(self, enabled: bool) -> bool:
        return self.director.set_idle_talk(enabled)

    def state(self) -> dict[str, Any]:
        return {**self.overlay.snapshot(), **self.status_view()}

    def set_vision(self, enabled: bool) -> bool:
        if self.vision is None:
            return False
        self.vision.enabled = enabled
        return enabled

    def settings_view(self) -> dict[str, Any] | None:
        return self.settings_editor.view() if self.settings_editor else None

    def save_settings(self, values: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.settings_editor is None:
            return 404, {"saved": False, "errors": {"": "설정 파일 없이 실행 중입니다"}}
        return self.settings_editor.save(values)

    async def test_setting(self, what: str) -> dict[str, Any]:
        if what == "vts_allow":  # VTube Studio's allow popup, through the running animator
            animator = self.director.runner.stages.animator
            ask = getattr(animator, "request_access", None)
            if ask is None or not getattr(animator, "vts_enabled", False):
                return {"level": "error", "detail": "VTube Studio 연결이 꺼져 있습니다 (VTS_ENABLED)",
                        "todo": ""}
            await ask()
            return {"level": "ok", "detail": "VTube Studio 창에 뜬 허용(Allow) 버튼을 누르세요", "todo": ""}
        if what == "speak":  # through the running voice, not a doctor check
            if self.director.speaking:
                return {"level": "warn", "detail": "답변 중에는 테스트할 수 없습니다", "todo": ""}
            why = await self.director.runner.say(TEST_SENTENCE)
            return ({"level": "ok", "detail": f"들렸어야 합니다: {TEST_SENTENCE}", "todo": ""}
                    if not why else {"level": "error", "detail": why,
                                     "todo": "TTS와 오디오 출력 설정을 확인하세요"})
        if self.settings_editor is None:
            return {"level": "error", "detail": "설정 파일 없이 실행 중입니다", "todo": ""}
        return await self.settings_editor.test(what)

    def chzzk_login_start(self) -> tuple[str | None, str]:
        if self.chzzk_login is None:
            return None, "치지직 로그인을 쓸 수 없습니다"
        return self.chzzk_login.start()

    async def chzzk_login_complete(self, query: dict[str, str]) -> tuple[bool, str]:
        if self.chzzk_login is None:
            return False, "치지직 로그인을 쓸 수 없습니다"
        return await self.chzzk_login.complete(query)

    def chzzk_logout(self) -> bool:
        return self.chzzk_login.logout() if self.chzzk_login else False

    async def devices(self) -> dict[str, Any]:
        """The sound devices this daemon sees, for the settings page's pickers."""
        def listing() -> dict[str, Any]:
            try:
                outputs, inputs = list_devices("output"), list_devices("input")
            except AudioDeviceError as exc:
                return {"outputs": [], "inputs": [], "recommended_output": None,
                        "error": f"{exc} → {exc.hint}" if exc.hint else str(exc)}
            cable = next((d.name for d in outputs if "cable input" in d.name.lower()), None)
            return {"outputs": [_device(d) for d in outputs], "inputs": [_device(d) for d in inputs],
                    "recommended_output": cable, "error": None}
        return await asyncio.to_thread(listing)

    def vision_frame(self) -> bytes | None:
        """The last frame sent to the vision model, small (memory only, for the panel)."""
        return self.vision.thumbnail if self.vision else None

    def status_view(self) -> dict[str, Any]:
        """Everything in state() except the overlay's message lists (light, for the panel)."""
        return {
            "ignore_streamer_chat": self.overlay.ignore_streamer_chat,
            "components": self.status.snapshot(),
            "queue": {**self.director.snapshot(), "llm": self._answering(),
                      "waiting_note": self._waiting_note(len(self.director.queue))},
            "filters": {"received": self.intake.received, "rejected": dict(self.intake.rejected),
                        "hidden": self.intake.hidden},
            "llm": self.llm_info() if self.llm_info else None,
            "voice": self.listener_info() if self.listener_info else None,
            "memory": self.memory.snapshot() if self.memory else {"enabled": False},
            "tools": self.tools_info() if self.tools_info else {"enabled": False},
            "vision": self.vision.latest() if self.vision else None,  # {"note", "at"} or null
            "vision_info": self.vision.snapshot() if self.vision else {"enabled": False},
            "errors": self.errors(),
            "overlay": self.overlay_options or {},
        }

    def subscribe(self) -> Subscription:
        return self.overlay.subscribe()

    def unsubscribe(self, sub: Subscription) -> None:
        self.overlay.unsubscribe(sub)

    async def memory_lookup(self, who: str | None) -> dict[str, Any]:
        if self.memory is None:
            return {"enabled": False, "viewers": []}
        viewers = await (self.memory.lookup(who) if who else self.memory.top())
        return {"enabled": True, "viewers": viewers}

    async def memory_forget(self, who: str) -> int:
        if self.memory is None:
            return 0
        keys = await self.memory.forget_viewers(who)
        for key in keys:
            self.director.forget_viewer(key)
        return len(keys)

    async def memory_delete_fact(self, fact_id: int) -> bool:
        return await self.memory.delete_fact(fact_id) if self.memory else False

    def metrics(self) -> dict[str, Any]:
        return {"turns": self.stats.turns, "outcomes": dict(self.stats.outcomes),
                "latency_ms": self.stats.summary()}


def _device(device: OutputDevice) -> dict[str, Any]:
    return {"name": device.name, "hostapi": device.hostapi, "index": device.index,
            "default": device.is_default}
